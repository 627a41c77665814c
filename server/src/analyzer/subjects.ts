/**
 * The analysed participants the analyzer is judging: one fusion state (and window detectors) per
 * participant, shared by the parts that feed it (scheduling, control-channel evidence), read it
 * (risk publishing) and measure it closely (challenge observing).
 */
import { logger } from '../log.ts';
import type { FusionInput } from '../protocol/analyzerChannel.ts';
import type { RiskHandBack } from '../protocol/messages.ts';
import { recordFusion } from './fusion/recordFusion.ts';
import type { RiskConfig } from './fusion/RiskFusion.ts';
import { newSubjectAnalysis, type SubjectAnalysis } from './pipeline.ts';

/** Fusion state of one analysed participant (fusion and window detectors: pipeline.ts). */
export interface Subject extends SubjectAnalysis {
  room: string;
  participantId: string;
  lastSent?: { state: string; at: number; top?: string; degraded: string };
  /** A liveness challenge is running: measure every sampled frame closely and report it. */
  observing?: Observing;
  /**
   * What this participant's fusion was told since RiskPublisher last sent it on (the `evidence`
   * message, recordFusion.ts), times in ms from `start` (epoch ms, when the subject was made).
   */
  recorded: { start: number; inputs: FusionInput[] };
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

const log = logger('analyzer');

export class Subjects {
  private readonly byKey = new Map<string, Subject>();
  private readonly riskConfig: RiskConfig;
  /** States the server handed back (restart, call moved here), applied when their subject appears. */
  private readonly handedBack = new Map<string, RiskHandBack>();

  constructor(riskConfig: RiskConfig) {
    this.riskConfig = riskConfig;
  }

  /** The participant's state, created on first use. */
  get(room: string, participantId: string): Subject {
    const key = `${room}/${participantId}`;
    let s = this.byKey.get(key);
    if (!s) {
      const start = Date.now();
      const analysis = newSubjectAnalysis(this.riskConfig, start);
      s = { room, participantId, ...analysis, recorded: { start, inputs: recordFusion(analysis.fusion, start) } };
      this.byKey.set(key, s);
      const h = this.handedBack.get(key);
      if (h) {
        this.handedBack.delete(key);
        this.restore(s, h);
      }
    }
    return s;
  }

  /**
   * The server's hand-back for a call this analyzer (re)joins: each participant's last raised
   * state, which fusion resumes (RiskFusion.restore) so that a restart or a move to another
   * analyzer neither wipes an ALERT nor raises it again. Kept until the participant's first
   * sample if they are not being judged here yet.
   */
  resume(room: string, handBack: readonly RiskHandBack[]): void {
    for (const h of handBack) {
      const s = this.find(room, h.participantId);
      if (s) this.restore(s, h);
      else this.handedBack.set(`${room}/${h.participantId}`, h);
    }
  }

  private restore(s: Subject, h: RiskHandBack): void {
    if (s.fusion.restore(h, Date.now())) log.info('risk resumed', { room: s.room, participant: s.participantId, state: h.state, raisedBy: h.raisedBy.join(',') });
  }

  /** Forgets hand-backs for calls no longer watched. */
  forget(room: string): void {
    for (const key of this.handedBack.keys()) if (key.startsWith(`${room}/`)) this.handedBack.delete(key);
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
