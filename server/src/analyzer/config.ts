/** Analyzer settings from the environment; the server passes its own URL and a service token. */
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { withoutEmpty } from '../env.ts';
import { parseVideoSize, type VideoSize } from '../sfu/vp8.ts';
import { parseProvider, type ProviderName } from './inference/providers.ts';

const EnvSchema = z.object({
  DFS_SERVER_URL: z.url(),
  DFS_ANALYZER_TOKEN: z.string().min(10),
  ANALYZER_PROVIDER: z.string().default('cpu'),
  ANALYZER_BASE_FPS: z.coerce.number().positive().max(30).default(2),
  ANALYZER_BOOST_FPS: z.coerce.number().positive().max(30).default(6),
  /** Landmarks-only frames per second while a face is present (blink, lip-sync, pulse); 0: off. */
  ANALYZER_LANDMARK_FPS: z.coerce.number().min(0).max(30).default(8),
  ANALYZER_AUDIO_HOP_S: z.coerce.number().min(0.5).max(4.04).default(2),
  /** Hop while the participant is CLEAR: fewer AASIST-L runs when nothing is suspected. */
  ANALYZER_AUDIO_CLEAR_HOP_S: z.coerce.number().min(0.5).max(30).default(4),
  /** Hop while CLEAR after a confidently natural reading, with the face judged too (streams.ts AudioStream.hopNow). */
  ANALYZER_AUDIO_CONFIDENT_HOP_S: z.coerce.number().min(0.5).max(30).default(8),
  ANALYZER_MAX_BATCH: z.coerce.number().int().min(1).max(256).default(8),
  ANALYZER_MAX_WAIT_MS: z.coerce.number().min(0).max(1000).default(25),
  /** Sampled frames (and audio windows) waiting per stream; beyond it the oldest are dropped. */
  ANALYZER_QUEUE: z.coerce.number().int().min(1).max(64).default(4),
  ANALYZER_HEARTBEAT_MS: z.coerce.number().int().min(100).default(2000),
  /** onnxruntime intra-op threads per CPU session; 0: a quarter of ANALYZER_CORES, 1 to 4. */
  ANALYZER_INTRA_OP_THREADS: z.coerce.number().int().min(0).max(64).default(0),
  /** Cores this worker may use, for the load it reports to the pool; the server sets its workers' share. Default: all of the host's. */
  ANALYZER_CORES: z.coerce.number().positive().max(4096).optional(),
  /**
   * Fusion's weights, windows and thresholds (a risk-config.json, e.g. written by
   * `npm run calibrate -- --out FILE` on a deployment's own labelled calls). Default: the shipped
   * fusion/risk-config.json.
   */
  ANALYZER_RISK_CONFIG: z.string().optional(),
  /**
   * Decoded frames larger than this (WIDTHxHEIGHT, either orientation) are dropped unanalysed: the
   * SFU already refuses such streams (RTC_MAX_VIDEO_SIZE); this keeps the queues bounded behind any
   * SFU that does not.
   */
  ANALYZER_MAX_VIDEO_SIZE: z
    .string()
    .default('1920x1080')
    .refine((v) => parseVideoSize(v) !== undefined, { message: 'must be WIDTHxHEIGHT, e.g. 1920x1080' }),
});

export interface AnalyzerConfig {
  serverUrl: string;
  /**
   * The current service token. The embedded analyzer's is short-lived and renewed over IPC
   * (analyzer/main.ts writes the new one here): read it at each connect, never keep a copy.
   */
  token: string;
  provider: ProviderName;
  baseFps: number;
  boostedFps: number;
  /** Landmarks-only sampling while a face is present; 0: off (landmarks only with the classifiers). */
  landmarkFps: number;
  audioHopSeconds: number;
  /** Hop while CLEAR (defaults to 4 s: back-to-back windows, half the runs of the 2 s hop). */
  audioClearHopSeconds: number;
  /** Hop while CLEAR after a confidently natural reading, the face judged too (defaults to 8 s). */
  audioConfidentHopSeconds: number;
  maxBatch: number;
  maxWaitMs: number;
  queueCapacity: number;
  heartbeatMs: number;
  /** 0: chosen for the host (defaultIntraOpThreads). */
  intraOpThreads: number;
  /** Cores this worker may use (its load is CPU over these). */
  cores: number;
  /** Larger decoded frames are dropped (default 1920x1080, either orientation). */
  maxVideoSize?: VideoSize;
  /** A risk-config.json to fuse with instead of the shipped one (ANALYZER_RISK_CONFIG). */
  riskConfigPath?: string;
}

export function loadAnalyzerConfig(env: NodeJS.ProcessEnv = process.env): AnalyzerConfig {
  // Empty counts as unset, as for the server (docker compose passes `${VAR:-}` through as '').
  const parsed = EnvSchema.safeParse(withoutEmpty(env));
  if (!parsed.success) {
    throw new Error(`invalid analyzer configuration:\n${parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n')}`);
  }
  const e = parsed.data;
  return {
    serverUrl: e.DFS_SERVER_URL.replace(/\/$/, ''),
    token: e.DFS_ANALYZER_TOKEN,
    provider: parseProvider(e.ANALYZER_PROVIDER),
    baseFps: e.ANALYZER_BASE_FPS,
    boostedFps: e.ANALYZER_BOOST_FPS,
    landmarkFps: e.ANALYZER_LANDMARK_FPS,
    audioHopSeconds: e.ANALYZER_AUDIO_HOP_S,
    audioClearHopSeconds: e.ANALYZER_AUDIO_CLEAR_HOP_S,
    audioConfidentHopSeconds: e.ANALYZER_AUDIO_CONFIDENT_HOP_S,
    maxBatch: e.ANALYZER_MAX_BATCH,
    maxWaitMs: e.ANALYZER_MAX_WAIT_MS,
    queueCapacity: e.ANALYZER_QUEUE,
    heartbeatMs: e.ANALYZER_HEARTBEAT_MS,
    intraOpThreads: e.ANALYZER_INTRA_OP_THREADS,
    cores: e.ANALYZER_CORES ?? availableParallelism(),
    maxVideoSize: parseVideoSize(e.ANALYZER_MAX_VIDEO_SIZE)!,
    ...(e.ANALYZER_RISK_CONFIG ? { riskConfigPath: e.ANALYZER_RISK_CONFIG } : {}),
  };
}
