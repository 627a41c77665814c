/**
 * The analysed participants the analyzer is judging: one fusion state (and window detectors) per
 * participant, shared by the parts that feed it (scheduling, control-channel evidence), read it
 * (risk publishing) and measure it closely (challenge observing).
 */
import type { RiskConfig } from './fusion/RiskFusion.ts';
import { newSubjectAnalysis, type SubjectAnalysis } from './pipeline.ts';

/** Fusion state of one analysed participant (fusion and window detectors: pipeline.ts). */
export interface Subject extends SubjectAnalysis {
  room: string;
  participantId: string;
  lastSent?: { state: string; at: number; top?: string };
  /** A liveness challenge is running: measure every sampled frame closely and report it. */
  observing?: Observing;
}

export interface Observing {
  challengeId: string;
  /** Epoch ms: stop on our own if the server's 'unobserve' never comes. */
  until: number;
  /** The lower face as it looked when the challenge began (running mean of the first frames). */
  baseline: Float32Array;
  baselineFrames: number;
  signature: Float32Array;
  /** Face cues' latest scores since the last reported frame (challengeCues.ts), keyed by detector id. */
  cues: Record<string, number>;
}

export class Subjects {
  private readonly byKey = new Map<string, Subject>();
  private readonly riskConfig: RiskConfig;

  constructor(riskConfig: RiskConfig) {
    this.riskConfig = riskConfig;
  }

  /** The participant's state, created on first use. */
  get(room: string, participantId: string): Subject {
    const key = `${room}/${participantId}`;
    let s = this.byKey.get(key);
    if (!s) {
      s = { room, participantId, ...newSubjectAnalysis(this.riskConfig, Date.now()) };
      this.byKey.set(key, s);
    }
    return s;
  }

  find(room: string, participantId: string): Subject | undefined {
    return this.byKey.get(`${room}/${participantId}`);
  }

  delete(s: Subject): void {
    this.byKey.delete(`${s.room}/${s.participantId}`);
  }

  [Symbol.iterator](): IterableIterator<Subject> {
    return this.byKey.values();
  }
}
