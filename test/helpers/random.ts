/** Deterministic PRNG (mulberry32): the same "random" jitter, noise and draws on every run. */
export { seededRandom } from '../../server/src/evaluation/random.ts';
