/**
 * Soak: a long day of calls, compressed. Starts the server (its own process, loopback only, file
 * audit log, METRICS_TOKEN set) with embedded analyzer workers, holds N two-party calls (a
 * clinician publishing a small synthetic camera, a simulated patient playing the real or the fake
 * clip, alternately), churns patients (leave, rejoin a few seconds later), SIGKILLs one analyzer
 * worker at 40% of the run and one SFU worker process (mediasoup) at 60%, and stops by itself.
 *
 *   npm run soak -- --calls 20 --minutes 10 [--workers 2] [--sfu-workers 2] [--engine auto|mediasoup|werift]
 *                   [--churn-s 15] [--sample-s 10] [--fps 10] [--gap-s 20] [--json FILE]
 *
 * Reports (stdout, markdown; progress on stderr): RSS and open file descriptors of every process
 * (server, analyzer workers, SFU workers, this load generator) over time, with each one's growth
 * after warm-up; frames the analyzer decoded per call; alerts lost (raised in the audit log but
 * never received by the call's clinician, or received but never audited); calls dropped (a party's
 * session failed or was closed, or the clinician saw no patient video for longer than --gap-s while
 * the patient was meant to be in the call); audit log completeness after a graceful shutdown (every
 * join recorded, nothing left open, every alert shown to its clinician, integrity_check ok).
 * Exit status 1 when a call dropped, an alert was lost or the audit log is incomplete.
 *
 * Why a script and not a test: it runs for minutes and its numbers are benchmarks (BENCHMARKS.md).
 */
// First: sets LOG_LEVEL before the product's logger reads it.
import './bench/env.ts';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { InferenceRuntime } from '../server/src/analyzer/inference/InferenceRuntime.ts';
import { ModelRegistry } from '../server/src/analyzer/inference/ModelRegistry.ts';
import { HeadlessParticipant, onVideoFrames } from '../server/src/headless/HeadlessParticipant.ts';
import { SyntheticVideo, solidLuma } from '../server/src/headless/syntheticMedia.ts';
import { ClipLibrary, type ClipName } from '../server/src/simulate/clips.ts';
import { SimulatedCaller } from '../server/src/simulate/SimulatedCaller.ts';
import { parseCli } from './cli.ts';
import { rssBytes } from './bench/proc.ts';
import { startServer, type ServerProcess } from './bench/serverProcess.ts';

const usage = `usage: npm run soak -- --calls N --minutes M [--workers 2] [--sfu-workers 2] [--engine auto|mediasoup|werift]
                     [--churn-s 15] [--sample-s 10] [--fps 10] [--gap-s 20] [--json FILE]`;
const cli = parseCli(usage, {
  calls: { type: 'string', default: '20' },
  minutes: { type: 'string', default: '10' },
  workers: { type: 'string', default: '2' },
  'sfu-workers': { type: 'string', default: '2' },
  engine: { type: 'string', default: 'auto' },
  'churn-s': { type: 'string', default: '15' },
  'sample-s': { type: 'string', default: '10' },
  fps: { type: 'string', default: '10' },
  'gap-s': { type: 'string', default: '20' },
  json: { type: 'string' },
});
const v = cli.values;
const num = (name: string, s: string, min: number, max: number): number => {
  const n = Number(s);
  if (!(n >= min && n <= max)) cli.fail(`--${name} must be between ${min} and ${max}`);
  return n;
};
const CALLS = Math.round(num('calls', v.calls, 1, 50));
const MINUTES = num('minutes', v.minutes, 0.5, 60);
const WORKERS = Math.round(num('workers', v.workers, 1, 8));
const SFU_WORKERS = Math.round(num('sfu-workers', v['sfu-workers'], 1, 8));
const CHURN_S = num('churn-s', v['churn-s'], 2, 600);
const SAMPLE_S = num('sample-s', v['sample-s'], 1, 120);
const FPS = num('fps', v.fps, 1, 30);
const GAP_S = num('gap-s', v['gap-s'], 3, 600);
if (!['auto', 'mediasoup', 'werift'].includes(v.engine)) cli.fail('--engine must be auto, mediasoup or werift');

const say = (msg: string) => process.stderr.write(`${new Date().toISOString()} [soak] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const RUN_MS = MINUTES * 60_000;

// Bounded whatever happens: setup, the run and teardown get the run's length plus 5 minutes.
const hardStop = setTimeout(() => {
  say('hard time limit reached; stopping');
  void server?.close().finally(() => process.exit(1));
  setTimeout(() => process.exit(1), 8000).unref();
}, RUN_MS + 300_000);
hardStop.unref();

// --- the server ---------------------------------------------------------------------------------

const dir = mkdtempSync(path.join(tmpdir(), 'dfs-soak-'));
const auditDb = path.join(dir, 'audit.sqlite');
const metricsToken = randomBytes(24).toString('hex');
const rooms = Array.from({ length: CALLS }, (_, i) => `soak-${i + 1}`);
const env: Record<string, string> = {
  ANALYZER: 'embedded',
  ANALYZER_WORKERS: String(WORKERS),
  ROOMS: rooms.join(','),
  AUDIT_DB: auditDb,
  METRICS_TOKEN: metricsToken,
  SFU_ENGINE: v.engine,
  MEDIASOUP_WORKERS: String(SFU_WORKERS),
  RTC_LISTEN_IP: '127.0.0.1',
  MAX_PARTICIPANTS: '8',
};
// The mediasoup worker of ../shared (machines without internet), unless one is given.
if (!process.env.MEDIASOUP_WORKER_BIN) {
  const shared = path.resolve(import.meta.dirname, '../../shared/mediasoup');
  const bin = existsSync(shared) ? readdirSync(shared).find((f) => f.startsWith('mediasoup-worker')) : undefined;
  if (bin) env.MEDIASOUP_WORKER_BIN = path.join(shared, bin);
}

let server: ServerProcess | undefined;
say(`starting the server: ${CALLS} calls, ${MINUTES} min, ${WORKERS} analyzer workers, engine ${v.engine}`);
server = await startServer(env);
const srv = server;
say(`server up at ${srv.url} (pid ${srv.pid})`);

// --- processes ------------------------------------------------------------------------------------

interface Proc {
  pid: number;
  role: 'server' | 'analyzer' | 'sfu-worker' | 'load' | 'other';
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function roleOf(pid: number): Proc['role'] {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (cmd.includes('analyzer/main.ts')) return 'analyzer';
    if (cmd.includes('mediasoup-worker')) return 'sfu-worker';
  } catch {
    // gone
  }
  return 'other';
}

function processes(): Proc[] {
  return [
    { pid: srv.pid, role: 'server' },
    ...childrenOf(srv.pid).map((pid) => ({ pid, role: roleOf(pid) })),
    { pid: process.pid, role: 'load' },
  ];
}

function fds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

// --- the calls ------------------------------------------------------------------------------------

const runtime = new InferenceRuntime(ModelRegistry.load(), { provider: 'cpu' });
const library = new ClipLibrary(runtime);
await Promise.all([library.load('real'), library.load('fake')]);

interface Call {
  room: string;
  clip: ClipName;
  doctor: HeadlessParticipant;
  doctorVideo: SyntheticVideo;
  patient: SimulatedCaller | undefined;
  /** The patient is meant to be in the call (false while churned out). */
  present: boolean;
  /** Since when media is expected again (a (re)join, a kill): gaps before it are not counted. */
  graceUntil: number;
  joins: number;
  framesAtDoctor: number;
  lastFrameAt: number;
  maxGapMs: number;
  alerts: Set<string>;
  dropped: string[];
}

const calls: Call[] = [];
const now = () => Date.now();

async function joinPatient(c: Call): Promise<void> {
  const i = calls.indexOf(c) + 1;
  const p = await SimulatedCaller.create({ url: srv.url, token: srv.token(c.room, 'patient', `Patient ${i}`, `pat-${i}`), room: c.room, clip: c.clip, library, fps: FPS });
  p.participant.session.on('fatal', (e) => c.dropped.push(`patient fatal ${e.code}: ${e.message}`));
  p.participant.session.on('room-closed', (r) => c.dropped.push(`patient: room closed (${r})`));
  c.patient = p;
  c.graceUntil = now() + GAP_S * 1000;
  await p.join();
  c.joins++;
  c.present = true;
}

for (const [k, room] of rooms.entries()) {
  const i = k + 1;
  const doctorVideo = new SyntheticVideo({ paint: solidLuma(90 + (i % 5) * 20), width: 160, height: 120, fps: 5 });
  const doctor = new HeadlessParticipant({ url: srv.url, token: srv.token(room, 'clinician', `Doctor ${i}`, `doc-${i}`), room, tracks: [doctorVideo.track] });
  const c: Call = {
    room,
    clip: k % 2 ? 'fake' : 'real',
    doctor,
    doctorVideo,
    patient: undefined,
    present: false,
    graceUntil: Infinity,
    joins: 0,
    framesAtDoctor: 0,
    lastFrameAt: now(),
    maxGapMs: 0,
    alerts: new Set(),
    dropped: [],
  };
  calls.push(c);
  doctor.session.on('alert', (a) => c.alerts.add(a.id));
  doctor.session.on('fatal', (e) => c.dropped.push(`clinician fatal ${e.code}: ${e.message}`));
  doctor.session.on('room-closed', (r) => c.dropped.push(`clinician: room closed (${r})`));
  doctor.session.on('track', (t) => {
    if (t.participantId !== `pat-${i}` || t.kind !== 'video') return;
    const stop = onVideoFrames(t.track, () => {
      c.framesAtDoctor++;
      c.lastFrameAt = now();
    });
    const off = doctor.session.on('track-removed', (gone) => {
      if (gone === t) {
        stop();
        off();
      }
    });
  });
  await doctor.join();
  await joinPatient(c);
  say(`call ${room} up (${c.clip})`);
}
say(`all ${CALLS} calls up; running ${MINUTES} min`);

// --- the run --------------------------------------------------------------------------------------

interface Sample {
  t: number;
  procs: Array<{ pid: number; role: Proc['role']; rssMb: number; fds: number }>;
}
const samples: Sample[] = [];
const events: Array<{ t: number; what: string }> = [];
const note = (what: string) => {
  events.push({ t: now() - t0, what });
  say(what);
};
/** Analyzer frames per (worker, stream): the last value seen, and what earlier incarnations counted. */
const decoded = new Map<string, { last: number; base: number }>();
let restarts = 0;

async function scrape(): Promise<void> {
  try {
    const res = await fetch(`${srv.url}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
    if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
    const text = await res.text();
    restarts = Number(/^dfs_analyzer_restarts_total (\S+)$/m.exec(text)?.[1] ?? restarts);
    for (const m of text.matchAll(/^dfs_analyzer_frames_received_total\{([^}]*)\} (\S+)$/gm)) {
      const worker = /worker="([^"]*)"/.exec(m[1]!)?.[1] ?? '';
      const stream = /stream="([^"]*)"/.exec(m[1]!)?.[1] ?? '';
      const k = `${worker}|${stream}`;
      const value = Number(m[2]);
      const d = decoded.get(k) ?? { last: 0, base: 0 };
      if (value < d.last) d.base += d.last; // the worker restarted under the same name
      d.last = value;
      decoded.set(k, d);
    }
  } catch (err) {
    say(`scrape failed: ${(err as Error).message}`);
  }
}

/** Worker processes seen at the last sample, to name the ones that came and went between samples. */
const seen = new Map<number, Proc['role']>();
const killed = new Set<number>();

function sample(): void {
  const procs = processes().map((p) => ({ ...p, rssMb: Math.round((rssBytes(p.pid) / 2 ** 20) * 10) / 10, fds: fds(p.pid) }));
  const live = new Set(procs.map((p) => p.pid));
  for (const [pid, role] of seen) {
    if (!live.has(pid)) {
      if (!killed.has(pid)) note(`${role} pid ${pid} gone (not killed by the soak)`);
      seen.delete(pid);
    }
  }
  for (const p of procs) {
    if ((p.role === 'analyzer' || p.role === 'sfu-worker') && !seen.has(p.pid)) {
      if (samples.length) note(`${p.role} pid ${p.pid} started`);
      seen.set(p.pid, p.role);
    }
  }
  samples.push({ t: Math.round((now() - t0) / 1000), procs: procs.filter((p) => !Number.isNaN(p.rssMb)) });
  const t = now();
  for (const c of calls) {
    if (c.present && t > c.graceUntil) c.maxGapMs = Math.max(c.maxGapMs, t - Math.max(c.lastFrameAt, c.graceUntil - GAP_S * 1000));
  }
}

const t0 = now();
const end = t0 + RUN_MS;
let analyzerKilled = false;
let sfuKilled = false;
let nextChurn = t0 + CHURN_S * 1000;
const churning = new Set<Call>();
sample();
await scrape();
let nextSample = now() + SAMPLE_S * 1000;

while (now() < end) {
  await sleep(500);
  const t = now();
  if (!analyzerKilled && t - t0 > 0.4 * RUN_MS) {
    analyzerKilled = true;
    const victim = processes().find((p) => p.role === 'analyzer');
    if (victim) {
      killed.add(victim.pid);
      process.kill(victim.pid, 'SIGKILL');
      note(`SIGKILL analyzer worker pid ${victim.pid}`);
    } else note('no analyzer worker process to kill');
  }
  if (!sfuKilled && t - t0 > 0.6 * RUN_MS) {
    sfuKilled = true;
    const victim = processes().find((p) => p.role === 'sfu-worker');
    if (victim) {
      killed.add(victim.pid);
      process.kill(victim.pid, 'SIGKILL');
      note(`SIGKILL SFU (mediasoup) worker pid ${victim.pid}`);
      // Its calls rejoin on a live worker: media is expected back within the gap allowance.
      for (const c of calls) c.graceUntil = Math.max(c.graceUntil, now() + GAP_S * 1000);
    } else note('no SFU worker process to kill (engine werift runs in the server process)');
  }
  if (t >= nextChurn) {
    nextChurn = t + CHURN_S * 1000;
    const idle = calls.filter((c) => !churning.has(c) && c.present);
    const c = idle[Math.floor(Math.random() * idle.length)];
    if (c) {
      churning.add(c);
      void (async () => {
        c.present = false;
        await c.patient?.leave().catch(() => undefined);
        await sleep(2000 + Math.random() * 3000);
        await joinPatient(c).catch((err: Error) => c.dropped.push(`patient rejoin failed: ${err.message}`));
      })().finally(() => churning.delete(c));
    }
  }
  if (t >= nextSample) {
    nextSample = t + SAMPLE_S * 1000;
    sample();
    await scrape();
    const last = samples.at(-1)!;
    const by = (role: string) => last.procs.filter((p) => p.role === role).map((p) => `${p.rssMb}MB/${p.fds}fd`).join(' ');
    say(`t=${last.t}s server ${by('server')} | analyzers ${by('analyzer')} | sfu ${by('sfu-worker')} | load ${by('load')}`);
  }
}
while (churning.size) await sleep(200);
sample();
await scrape();
note('run over; leaving the calls');

// --- teardown and audit -------------------------------------------------------------------------

for (const c of calls) await c.patient?.leave().catch(() => undefined);
for (const c of calls) {
  await c.doctor.leave().catch(() => undefined);
  c.doctorVideo.stop();
}
await sleep(1000);
// The server's warnings and errors, by message (timestamps and key=value details left out).
const warnings = new Map<string, number>();
for (const l of srv.log) {
  const m = /^\S+ (WARN|ERROR) (\[[^\]]+\] .*?)(?: \w+=.*)?$/.exec(l);
  if (m) warnings.set(`${m[1]} ${m[2]}`, (warnings.get(`${m[1]} ${m[2]}`) ?? 0) + 1);
}
await srv.close();
await runtime.close();

const db = new DatabaseSync(auditDb, { readOnly: true });
const q = <T>(sql: string, ...args: Array<string | number>) => db.prepare(sql).all(...args) as T[];
const integrity = q<{ integrity_check: string }>('PRAGMA integrity_check')[0]?.integrity_check ?? 'no answer';
const openCalls = q<{ n: number }>('SELECT COUNT(*) AS n FROM calls WHERE closed_at IS NULL')[0]!.n;
const openRows = q<{ n: number }>('SELECT COUNT(*) AS n FROM participants WHERE left_at IS NULL')[0]!.n;

interface CallReport {
  room: string;
  clip: ClipName;
  patientJoins: number;
  joinsRecorded: number;
  analyzerFrames: number;
  framesAtClinician: number;
  maxGapS: number;
  alertsAudited: number;
  alertsReceived: number;
  alertsLost: number;
  alertsNotAudited: number;
  alertsNotShown: number;
  dropped: string[];
}
const perCall: CallReport[] = calls.map((c, k) => {
  const i = k + 1;
  const ids = q<{ id: number }>('SELECT id FROM calls WHERE room = ?', c.room).map((r) => r.id);
  const inCalls = ids.length ? `call_id IN (${ids.join(',')})` : '0';
  // A rejoin within a minute reopens the row it left and counts in `rejoins` (AuditLog.participantJoined).
  const joinsRecorded = q<{ n: number }>(`SELECT COALESCE(SUM(1 + rejoins), 0) AS n FROM participants WHERE ${inCalls} AND participant_id = ?`, `pat-${i}`)[0]!.n;
  const audited = new Set(q<{ id: string }>(`SELECT id FROM alerts WHERE ${inCalls}`).map((r) => r.id));
  const shown = new Set(q<{ alert_id: string }>(`SELECT alert_id FROM alert_views WHERE viewer_id = ?`, `doc-${i}`).map((r) => r.alert_id));
  let analyzerFrames = 0;
  for (const [k2, d] of decoded) if (k2.endsWith(`|${c.room}/pat-${i}/video`)) analyzerFrames += d.base + d.last;
  if (c.maxGapMs > GAP_S * 1000) c.dropped.push(`no patient video at the clinician for ${Math.round(c.maxGapMs / 1000)} s`);
  return {
    room: c.room,
    clip: c.clip,
    patientJoins: c.joins,
    joinsRecorded,
    analyzerFrames,
    framesAtClinician: c.framesAtDoctor,
    maxGapS: Math.round(c.maxGapMs / 100) / 10,
    alertsAudited: audited.size,
    alertsReceived: c.alerts.size,
    alertsLost: [...audited].filter((id) => !c.alerts.has(id)).length,
    alertsNotAudited: [...c.alerts].filter((id) => !audited.has(id)).length,
    alertsNotShown: [...audited].filter((id) => !shown.has(id)).length,
    dropped: c.dropped,
  };
});
db.close();

// --- report -------------------------------------------------------------------------------------

/** Per process: RSS and fds at the first sample after warm-up (a quarter of the run) and at the end, and the RSS slope. */
function growth(): Array<{ pid: number; role: string; rssStart: number; rssEnd: number; rssMbPerMin: number; fdsStart: number; fdsEnd: number; fdsMax: number }> {
  const warm = samples.find((s) => s.t * 1000 >= 0.25 * RUN_MS) ?? samples[0]!;
  const pids = new Set(samples.flatMap((s) => s.procs.map((p) => p.pid)));
  const out = [];
  for (const pid of pids) {
    const series = samples.filter((s) => s.t >= warm.t).flatMap((s) => s.procs.filter((p) => p.pid === pid).map((p) => ({ t: s.t, ...p })));
    const all = samples.flatMap((s) => s.procs.filter((p) => p.pid === pid));
    if (!series.length) continue;
    const first = series[0]!;
    const last = series.at(-1)!;
    const n = series.length;
    const mt = series.reduce((a, p) => a + p.t, 0) / n;
    const mr = series.reduce((a, p) => a + p.rssMb, 0) / n;
    const den = series.reduce((a, p) => a + (p.t - mt) ** 2, 0);
    const slope = den ? (series.reduce((a, p) => a + (p.t - mt) * (p.rssMb - mr), 0) / den) * 60 : 0;
    out.push({ pid, role: first.role, rssStart: first.rssMb, rssEnd: last.rssMb, rssMbPerMin: Math.round(slope * 10) / 10, fdsStart: first.fds, fdsEnd: last.fds, fdsMax: Math.max(...all.map((p) => p.fds)) });
  }
  return out;
}

const procs = growth();
const dropped = perCall.filter((c) => c.dropped.length);
const lost = perCall.reduce((n, c) => n + c.alertsLost + c.alertsNotAudited, 0);
const joinsMissing = perCall.reduce((n, c) => n + Math.max(0, c.patientJoins - c.joinsRecorded), 0);
const notShown = perCall.reduce((n, c) => n + c.alertsNotShown, 0);
const auditOk = integrity === 'ok' && openCalls === 0 && openRows === 0 && joinsMissing === 0 && notShown === 0;

const lines: string[] = [];
lines.push(`### Soak: ${CALLS} calls, ${MINUTES} min (${new Date(t0).toISOString()})`, '');
lines.push(`Machine: ${cpus().length} cores, load average at the end ${loadavg().map((l) => l.toFixed(1)).join(' / ')}. Engine ${v.engine}, ${WORKERS} analyzer workers, churn every ${CHURN_S} s, patient video ${FPS} fps.`, '');
lines.push('Events: ' + (events.map((e) => `${Math.round(e.t / 1000)} s ${e.what}`).join('; ') || 'none'), '');
lines.push('| process | pid | RSS after warm-up → end (MB) | RSS slope (MB/min) | fds after warm-up → end (max) |', '| --- | --- | --- | --- | --- |');
for (const p of procs) lines.push(`| ${p.role} | ${p.pid} | ${p.rssStart} → ${p.rssEnd} | ${p.rssMbPerMin} | ${p.fdsStart} → ${p.fdsEnd} (${p.fdsMax}) |`);
lines.push('', '| call | clip | patient joins (recorded) | frames decoded by the analyzer | frames at the clinician | longest video gap (s) | alerts audited / received / lost | dropped |', '| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const c of perCall) {
  lines.push(`| ${c.room} | ${c.clip} | ${c.patientJoins} (${c.joinsRecorded}) | ${c.analyzerFrames} | ${c.framesAtClinician} | ${c.maxGapS} | ${c.alertsAudited} / ${c.alertsReceived} / ${c.alertsLost + c.alertsNotAudited} | ${c.dropped.join('; ') || 'no'} |`);
}
lines.push('');
lines.push(`Analyzer restarts (dfs_analyzer_restarts_total, the soak's kill included): ${restarts}.`);
const topWarnings = [...warnings].sort((a, b) => b[1] - a[1]).slice(0, 6);
if (topWarnings.length) lines.push(`Server warnings (last ${srv.log.length} log lines kept): ${topWarnings.map(([w, n]) => `${n}× ${w}`).join('; ')}.`);
lines.push(`Calls dropped: ${dropped.length} of ${CALLS}. Alerts lost: ${lost}. Audit log: integrity ${integrity}, calls left open ${openCalls}, participant rows left open ${openRows}, patient joins not recorded ${joinsMissing}, alerts not recorded as shown to the clinician ${notShown} → ${auditOk ? 'complete' : 'INCOMPLETE'}.`);
console.log(lines.join('\n'));

if (v.json) writeFileSync(v.json, JSON.stringify({ calls: CALLS, minutes: MINUTES, restarts, warnings: Object.fromEntries(warnings), events, samples, processes: procs, perCall, audit: { integrity, openCalls, openRows, joinsMissing, notShown } }, null, 1));
rmSync(dir, { recursive: true, force: true });
process.exit(dropped.length || lost || !auditOk ? 1 : 0);
