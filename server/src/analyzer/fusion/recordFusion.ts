/**
 * A participant's fusion, recorded: every call into it (evidence, quality checks, samples taken and
 * lost, sampling targets, ticks) as the protocol's `FusionInput`, with times from a start, leaving
 * its behaviour unchanged.
 *
 * Why: the same list serves two ends. The evaluation records it for each clip and replays it
 * through another fusion in milliseconds (`npm run eval -- --refuse`, `npm run calibrate`); the live
 * analyzer sends it to the server once a second (RiskPublisher, the `evidence` message), which
 * keeps it beside the call in the audit log, so that a clinic or a bank can calibrate fusion on its
 * own calls once it knows which ended in a confirmed fraud (`npm run calibrate -- --from-audit`).
 * Numbers only: no picture, no sound, no detector's text.
 */
import type { Evidence } from '../detectors/Detector.ts';
import type { FusionInput } from '../../protocol/analyzerChannel.ts';
import type { RiskFusion, SampledInput } from './RiskFusion.ts';

export type { FusionInput };

const r4 = (x: number) => Math.round(x * 1e4) / 1e4;

/**
 * Records every call into `fusion` (times in ms from `t0`) into the returned list, which the
 * caller may empty (`splice`) as it sends it on. A sampling target is recorded when it changes
 * (the analyzer sets each one every second; the same value again changes nothing in fusion).
 */
export function recordFusion(fusion: RiskFusion, t0: number): FusionInput[] {
  const log: FusionInput[] = [];
  const targets = new Map<SampledInput, number>();
  const add = fusion.add.bind(fusion);
  const addQuality = fusion.addQuality.bind(fusion);
  const update = fusion.update.bind(fusion);
  const sampled = fusion.sampled.bind(fusion);
  const dropped = fusion.dropped.bind(fusion);
  const target = fusion.setSamplingTarget.bind(fusion);
  const t = (at: number) => Math.max(0, at - t0);
  fusion.add = (e: Evidence) => {
    log.push(['e', t(e.at), e.detector, e.score === undefined ? null : r4(e.score), r4(e.confidence)]);
    add(e);
  };
  fusion.addQuality = (at, reason) => {
    log.push(['q', t(at), reason]);
    addQuality(at, reason);
  };
  fusion.sampled = (input, at) => {
    log.push(['s', t(at), input]);
    sampled(input, at);
  };
  fusion.dropped = (input, at) => {
    log.push(['d', t(at), input]);
    dropped(input, at);
  };
  fusion.setSamplingTarget = (input, perSecond) => {
    if (targets.get(input) !== perSecond) log.push(['r', input, perSecond]);
    targets.set(input, perSecond);
    target(input, perSecond);
  };
  fusion.update = (now) => {
    log.push(['u', t(now)]);
    return update(now);
  };
  return log;
}
