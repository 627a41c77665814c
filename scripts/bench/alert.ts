/**
 * Time to alert: the whole product (server in its own process, its embedded analyzer supervised as
 * in production) and a simulated caller (server/src/simulate/SimulatedCaller.ts, animated face and
 * speech, in this process). Each run: the caller joins a fresh call with the real clip; once the
 * analyzer has judged it CLEAR (and at least `realSeconds` have passed) it switches to the fake
 * clip; the clock stops when a supervisor's socket, joined to the call, receives `risk.alert`.
 * Both times are kept: the first raised state (SUSPICIOUS or ALERT) and the alert. The fake clip
 * (default `fake-tts`) is a MesoNet-domain crop with a synthetic voice, which two detectors agree
 * on; `--alert-clip fake` is the same face with a real voice, which the shipped fusion never takes
 * to ALERT (MesoNet alone never warns since 3 Dec 2026: risk-config.json; in the simulator another
 * face cue agrees and it is raised to SUSPICIOUS, BENCHMARKS.md). The server process
 * inherits the environment, so `ANALYZER_RISK_CONFIG=FILE npm run bench -- --only alert` times the
 * alert under another fusion (BENCHMARKS.md: MesoNet decisive, as before 2 Dec 2026).
 */
import { io, type Socket } from 'socket.io-client';
import type { InferenceRuntime } from '../../server/src/analyzer/inference/InferenceRuntime.ts';
import type { RiskAlert, RiskUpdate } from '../../server/src/protocol/messages.ts';
import { ClipLibrary, type ClipName } from '../../server/src/simulate/clips.ts';
import { SimulatedCaller } from '../../server/src/simulate/SimulatedCaller.ts';
import { startServer } from './serverProcess.ts';
import { summarize, type Summary } from './stats.ts';

export interface AlertOptions {
  runtime: InferenceRuntime;
  repetitions: number;
  /** Least time on the real clip before switching. */
  realSeconds: number;
  /** Give up on a run after this long without an alert. */
  timeoutSeconds: number;
  /** The clip switched to (default `fake-tts`: the face-swap crop with a synthetic voice; `fake`, with a real voice, reaches no ALERT with the shipped fusion). */
  clip?: ClipName;
  say: (msg: string) => void;
}

export interface AlertRun {
  run: number;
  /** From joining to the first CLEAR while on the real clip (null: never CLEAR before the switch). */
  clearAfterMs: number | null;
  /** Time on the real clip. */
  realMs: number;
  /** State at the switch. */
  stateAtSwitch: string;
  /** An alert raised while still on the real clip (a false alarm; the run is not counted). */
  alertOnReal: boolean;
  /** From the switch to the supervisor's socket receiving SUSPICIOUS / ALERT (null: not within the timeout). */
  suspiciousAfterMs: number | null;
  alertAfterMs: number | null;
  /** State changes seen by the supervisor, ms from the switch. */
  timeline: Array<[number, string]>;
}

export interface AlertResult {
  /** The clip switched to. */
  clip: string;
  runs: AlertRun[];
  alertMs: Summary;
  suspiciousMs: Summary;
  /** Runs that reached no alert within the timeout. */
  timeouts: number;
  timeoutSeconds: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function supervisorSocket(url: string, token: string, room: string): Promise<Socket> {
  const s = io(url, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    s.once('connect', () => resolve());
    s.once('connect_error', (e) => reject(e));
  });
  const res = (await s.timeout(10_000).emitWithAck('join', { room })) as { ok: boolean; error?: { message: string } };
  if (!res.ok) throw new Error(`supervisor could not join: ${res.error?.message}`);
  return s;
}

export async function benchAlert(o: AlertOptions): Promise<AlertResult> {
  const rooms = Array.from({ length: o.repetitions }, (_, i) => `alert-${i + 1}`);
  const server = await startServer({ ANALYZER: 'embedded', ROOMS: rooms.join(',') });
  const library = new ClipLibrary(o.runtime);
  // Prepared once, so switching costs no decoding or face detection.
  const fakeClip = o.clip ?? 'fake-tts';
  await Promise.all([library.load('real'), library.load(fakeClip)]);
  const runs: AlertRun[] = [];
  try {
    for (let i = 0; i < o.repetitions; i++) {
      const room = rooms[i]!;
      const callerId = `caller-${i + 1}`;
      const sup = await supervisorSocket(server.url, server.token(room, 'supervisor', 'Bench Supervisor', `sup-${i + 1}`), room);
      let state = 'none';
      let switchedAt: number | undefined;
      let clearAt: number | undefined;
      let alertAt: number | undefined;
      let suspiciousAt: number | undefined;
      let alertOnReal = false;
      const timeline: Array<[number, string]> = [];
      sup.on('risk.update', (u: RiskUpdate) => {
        if (u.participantId !== callerId || u.state === state) return;
        const now = performance.now();
        state = u.state;
        if (switchedAt === undefined) {
          if (u.state === 'CLEAR') clearAt ??= now;
        } else {
          timeline.push([Math.round(now - switchedAt), u.state]);
          if (u.state === 'SUSPICIOUS' || u.state === 'ALERT') suspiciousAt ??= now;
        }
      });
      sup.on('risk.alert', (a: RiskAlert) => {
        if (a.participantId !== callerId) return;
        const now = performance.now();
        if (switchedAt === undefined) alertOnReal = true;
        else alertAt ??= now;
      });
      const caller = await SimulatedCaller.create({ url: server.url, token: server.token(room, 'patient', `Simulated caller ${i + 1}`, callerId), room, clip: 'real', library });
      try {
        await caller.join();
        const joinedAt = performance.now();
        // Real clip: until CLEAR and at least realSeconds, at most 90 s more.
        const until = joinedAt + Math.max(o.realSeconds * 1000, 90_000);
        while (performance.now() < until && !(clearAt !== undefined && performance.now() - joinedAt >= o.realSeconds * 1000)) await sleep(100);
        const stateAtSwitch = state;
        await caller.switchTo(fakeClip);
        switchedAt = performance.now();
        const t0 = switchedAt;
        const deadline = t0 + o.timeoutSeconds * 1000;
        while (alertAt === undefined && !alertOnReal && performance.now() < deadline) await sleep(50);
        const run: AlertRun = {
          run: i + 1,
          clearAfterMs: clearAt === undefined ? null : Math.round(clearAt - joinedAt),
          realMs: Math.round(t0 - joinedAt),
          stateAtSwitch,
          alertOnReal,
          suspiciousAfterMs: suspiciousAt === undefined ? null : Math.round(suspiciousAt - t0),
          alertAfterMs: alertAt === undefined ? null : Math.round(alertAt - t0),
          timeline,
        };
        runs.push(run);
        o.say(
          `  run ${i + 1}: real ${(run.realMs / 1000).toFixed(1)} s (${stateAtSwitch}), ` +
            (alertOnReal
              ? 'ALERT while still real (false alarm; not counted)'
              : (run.suspiciousAfterMs === null ? 'never raised' : `raised ${(run.suspiciousAfterMs / 1000).toFixed(1)} s after the switch`) +
                (run.alertAfterMs === null ? `, no ALERT within ${o.timeoutSeconds} s` : `, ALERT ${(run.alertAfterMs / 1000).toFixed(1)} s after it`)),
        );
      } finally {
        await caller.leave().catch(() => undefined);
        sup.disconnect();
      }
      await sleep(1000);
    }
  } finally {
    await server.close();
  }
  const counted = runs.filter((r) => !r.alertOnReal);
  return {
    clip: fakeClip,
    runs,
    alertMs: summarize(counted.flatMap((r) => (r.alertAfterMs === null ? [] : [r.alertAfterMs]))),
    suspiciousMs: summarize(counted.flatMap((r) => (r.suspiciousAfterMs === null ? [] : [r.suspiciousAfterMs]))),
    timeouts: counted.filter((r) => r.alertAfterMs === null).length,
    timeoutSeconds: o.timeoutSeconds,
  };
}
