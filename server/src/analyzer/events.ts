/** What the analyzer tells the code that hosts it (tests, the benchmark, main.ts) as it works. */
import type { I420Frame } from '../headless/wrtc.ts';
import type { ChallengeSample } from '../protocol/challenge.ts';
import type { RiskUpdate } from '../protocol/messages.ts';
import type { QualityReason } from './vision/quality.ts';
import type { StreamId } from './streams.ts';

/** What the analyzer saw in one sample; fusion (a later stage) turns these into risk. */
export type Observation =
  | {
      kind: 'video';
      stream: StreamId;
      at: number;
      quality: QualityReason;
      faces: number;
      trackId?: number;
      /** MesoNet's fake score, when a usable face of an analysed participant was found. */
      deepfake?: number;
      /** MiniFASNet's spoof score, likewise. */
      spoof?: number;
      latencyMs: number;
    }
  | { kind: 'audio'; stream: StreamId; at: number; voicedFraction: number; syntheticVoice?: number; latencyMs: number };

export interface AnalyzerEvents {
  /** A frame the sampler kept, as the analyzer received it (tests check its content). */
  sampled: [StreamId, I420Frame];
  observation: [Observation];
  /** A participant's fused risk, as sent to the server. */
  risk: [string, RiskUpdate];
  /** A challenge measurement, as sent to the server. */
  'challenge-sample': [string, string, ChallengeSample];
  /** Joined a call / left it. */
  joined: [string];
  left: [string];
}

/** The one emitter every part reports through (the Analyzer itself). */
export interface AnalyzerEmitter {
  emit<E extends keyof AnalyzerEvents>(event: E, ...args: AnalyzerEvents[E]): boolean;
}
