/**
 * The analyzer: a hidden, receive-only participant in every call the server gives it (LiveKit-style:
 * just another participant, joined with a service credential through the same signaling as
 * browsers). It samples each stream, runs the models, and reports risk. It never blocks a call:
 * sinks only copy into bounded queues, and inference drains them as fast as it can, dropping the
 * oldest samples.
 *
 * This file only composes the parts, each with one job:
 *   ControlChannel     the socket to the server's /analyzer namespace (protocol/analyzerChannel.ts)
 *   CallWatcher        one hidden CallSession per call; remote tracks -> sampling streams
 *   Scheduler          sampling queues -> face detection, classifiers, voice model
 *   RiskPublisher      per-participant fusion -> `risk` to the server, boosting the suspicious
 *   ChallengeObserver  measurements for a running liveness challenge; its verdict as evidence
 *   LoadMeter          the load each heartbeat reports, by which the server's pool dispatches calls
 * and Subjects, the per-participant fusion state they share.
 */
import { EventEmitter } from 'node:events';
import type { MetricJson } from '../metrics/merge.ts';
import { Metrics } from '../metrics/Metrics.ts';
import type { ObserveRequest } from '../protocol/analyzerChannel.ts';
import { CallWatcher } from './CallWatcher.ts';
import { ChallengeObserver } from './ChallengeObserver.ts';
import type { AnalyzerConfig } from './config.ts';
import { ControlChannel } from './ControlChannel.ts';
import { integrityEvidence } from './detectors/ClientIntegrity.ts';
import type { AnalyzerEvents } from './events.ts';
import type { InferenceRuntime } from './inference/InferenceRuntime.ts';
import type { ModelRunner } from './inference/ModelRunner.ts';
import { loadRiskConfig, type RiskConfig } from './fusion/RiskFusion.ts';
import { LoadMeter } from './LoadMeter.ts';
import { loadAnalyzerModels, type AnalyzerModels } from './pipeline.ts';
import { RiskPublisher } from './RiskPublisher.ts';
import { Scheduler } from './Scheduler.ts';
import { Subjects } from './subjects.ts';
import { logger } from '../log.ts';

export type { AnalyzerEvents, Observation } from './events.ts';

const log = logger('analyzer');

/** Batch sizes: powers of two up to the largest ANALYZER_MAX_BATCH worth trying. */
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64];

export class Analyzer extends EventEmitter<AnalyzerEvents> {
  readonly metrics: Metrics;
  private readonly config: AnalyzerConfig;
  private readonly runtime: InferenceRuntime;
  private readonly riskConfig: RiskConfig;
  private models: AnalyzerModels = { frame: [], batchers: [] };
  private control: ControlChannel | undefined;
  private readonly subjects: Subjects;
  private readonly watcher: CallWatcher;
  private readonly scheduler: Scheduler;
  private readonly challenges: ChallengeObserver;
  private readonly risk: RiskPublisher;
  private readonly loadMeter: LoadMeter;

  /**
   * `processMetrics`: add prom-client's process and event-loop metrics (RSS, open fds, CPU, GC,
   * event-loop lag) to this analyzer's; on where the analyzer is its own process (main.ts), off
   * for analyzers built inside another process (tests), whose figures would be that process's.
   */
  constructor(config: AnalyzerConfig, runtime: InferenceRuntime, riskConfig: RiskConfig = loadRiskConfig(config.riskConfigPath), opts: { processMetrics?: boolean } = {}) {
    super();
    this.metrics = new Metrics({ defaults: opts.processMetrics ?? false });
    this.config = config;
    this.runtime = runtime;
    this.riskConfig = riskConfig;
    const events = this;
    const control = () => this.control;
    this.subjects = new Subjects(riskConfig);
    this.watcher = new CallWatcher({ config, metrics: this.metrics, events, subjects: this.subjects, onSample: () => this.scheduler.wake() });
    this.challenges = new ChallengeObserver({ watcher: this.watcher, subjects: this.subjects, events, control });
    this.scheduler = new Scheduler({
      watcher: this.watcher,
      subjects: this.subjects,
      challenges: this.challenges,
      events,
      metrics: this.metrics,
      models: () => this.models,
      maxBatch: config.maxBatch,
    });
    this.loadMeter = new LoadMeter(config.cores);
    this.risk = new RiskPublisher({ watcher: this.watcher, subjects: this.subjects, events, control });
    // A hand-back for a call this analyzer no longer watches is stale: the next one gets a fresh one.
    this.on('left', (room) => this.subjects.forget(room));
  }

  /**
   * Loads what models it can (a missing model disables its detector, with an error naming it).
   * `wrap` can put something around each model's runner (tests use it to make a model slow).
   */
  async loadModels(wrap: (runner: ModelRunner, id: string) => ModelRunner = (r) => r): Promise<void> {
    const providerHelp = 'Execution provider each model runs on.';
    const latencyHelp = 'Inference latency per model (queue wait + run), ms.';
    this.models = await loadAnalyzerModels(this.runtime, {
      maxBatch: this.config.maxBatch,
      maxWaitMs: this.config.maxWaitMs,
      riskConfig: this.riskConfig,
      wrap,
      onModel: (id, m, err) => {
        if (m) {
          this.metrics.set('dfs_analyzer_model_provider', providerHelp, { model: id, provider: m.provider }, 1);
        } else {
          log.error('model unavailable; its detector is off', { model: id, err: err?.message });
          this.metrics.set('dfs_analyzer_model_provider', providerHelp, { model: id, provider: 'none' }, 0);
        }
      },
      latency: (id) => this.metrics.histogram('dfs_analyzer_inference_ms', latencyHelp, { model: id }),
      onBatch: (id, n) => this.metrics.histogram('dfs_analyzer_batch_size', 'Items per inference batch.', { model: id }, BATCH_BUCKETS).add(n),
    });
  }

  /** Connects the control channel; watches the calls the server gives it and follows changes. */
  start(): void {
    this.scheduler.start();
    const control = new ControlChannel({
      serverUrl: this.config.serverUrl,
      token: () => this.config.token,
      heartbeatMs: this.config.heartbeatMs,
      metrics: () => this.metricsJson(),
      load: () => {
        const t = this.watcher.totals();
        return this.loadMeter.read({ streams: t.streams, rooms: t.rooms, droppedTotal: t.dropped, sampledTotal: t.sampled, lagMs: this.scheduler.lagP95() });
      },
    });
    this.control = control;
    // Sent before 'rooms' for the calls this analyzer takes over: resume their raised states.
    control.on('resume', (r) => this.subjects.resume(r.room, r.subjects));
    control.on('rooms', (ids) => this.watcher.follow(ids));
    control.on('integrity', (r) => {
      const e = integrityEvidence(r.report, Date.now());
      if (e) this.subjects.get(r.room, r.participantId).fusion.add(e);
    });
    control.on('observe', (o) => this.challenges.observe(o));
    control.on('unobserve', (o) => this.challenges.unobserve(o));
    control.on('challenge.result', (r) => this.challenges.result(r));
    this.risk.start();
  }

  /** A liveness challenge began: sample this participant at the boosted rate and report each frame. */
  observe(o: ObserveRequest): void {
    this.challenges.observe(o);
  }

  /** Raise or lower a stream's sampling rate (suspicion, challenges). */
  setBoosted(room: string, participantId: string, boosted: boolean): void {
    this.watcher.setBoosted(room, participantId, boosted);
  }

  /** This analyzer's metrics as Prometheus text. */
  renderMetrics(): Promise<string> {
    this.record();
    return this.metrics.render();
  }

  /** The same as prom-client JSON, which heartbeats carry to the server (merged there by worker). */
  metricsJson(): Promise<MetricJson[]> {
    this.record();
    return this.metrics.json();
  }

  private record(): void {
    this.watcher.recordMetrics(this.metrics);
  }

  /** Counters for one stream, for tests and diagnostics. */
  streamStats(key: string): { pushed: number; dropped: number; taken: number; queued: number; frames: number } | undefined {
    const video = this.watcher.video.get(key);
    const q = (video ?? this.watcher.audio.get(key))?.queue;
    return q && { pushed: q.pushed, dropped: q.dropped, taken: q.taken, queued: q.length, frames: video?.framesIn ?? 0 };
  }

  async stop(): Promise<void> {
    this.scheduler.stop();
    await this.watcher.leaveAll();
    this.risk.stop();
    this.control?.close();
    this.loadMeter.close();
    for (const b of this.models.batchers) b.close();
    await this.runtime.close();
  }
}
