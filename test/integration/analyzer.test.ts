/**
 * The analyzer as a participant: it receives exactly what the SFU forwards, stays invisible, and
 * when its process dies or stalls, calls go on, privileged participants are told, and it comes back.
 * It spends the voice model where the answer is in doubt: less often on a CLEAR caller whose voice
 * reads confidently natural and whose face it judges too, never less than fusion needs.
 */
import { Tensor } from 'onnxruntime-node';
import { afterEach, describe, expect, it } from 'vitest';
import { Analyzer } from '../../server/src/analyzer/Analyzer.ts';
import type { AnalyzerConfig } from '../../server/src/analyzer/config.ts';
import { inProcessAnalyzer as makeAnalyzer } from '../helpers/analyzer.ts';
import { HeadlessParticipant, onVideoFrames } from '../../server/src/headless/HeadlessParticipant.ts';
import { LoopedAudio, SyntheticAudio, SyntheticVideo, type FramePainter } from '../../server/src/headless/syntheticMedia.ts';
import type { I420Frame } from '../../server/src/headless/wrtc.ts';
import type { AnalysisStatus, RiskUpdate } from '../../server/src/protocol/messages.ts';
import { QUALITY_GAPS } from '../../server/src/protocol/riskGaps.ts';
import { faceStill, realVoice } from '../helpers/callerMedia.ts';
import { startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** Four quadrants of different luma: content that survives encoding only if the frame is intact. */
const QUADRANTS = [40, 100, 160, 220] as const;
const quadrants: FramePainter = (f) => {
  const { width: w, height: h } = f;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) f.data[y * w + x] = QUADRANTS[(y < h / 2 ? 0 : 2) + (x < w / 2 ? 0 : 1)]!;
  }
  f.data.fill(128, w * h);
};

function quadrantMeans(f: I420Frame): number[] {
  const { width: w, height: h } = f;
  const sums = [0, 0, 0, 0];
  const counts = [0, 0, 0, 0];
  // Stay clear of the edges between quadrants, where the codec blurs.
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (Math.abs(x - w / 2) < 16 || Math.abs(y - h / 2) < 16) continue;
      const q = (y < h / 2 ? 0 : 2) + (x < w / 2 ? 0 : 1);
      sums[q]! += f.data[y * w + x]!;
      counts[q]!++;
    }
  }
  return sums.map((s, i) => s / counts[i]!);
}

async function publisher(server: TestServer, role: 'patient' | 'clinician', sub: string, paint: FramePainter) {
  const video = new SyntheticVideo({ paint, width: 320, height: 240 });
  const audio = new SyntheticAudio({ frequencyHz: 220 });
  const peer = new HeadlessParticipant({ url: server.url, room: 'demo', token: server.token('demo', role, sub, { sub }), tracks: [audio.track, video.track] });
  const statuses: AnalysisStatus[] = [];
  peer.session.on('analysis', (s) => statuses.push(s));
  await peer.join();
  cleanup.push(() => video.stop(), () => audio.stop(), () => peer.leave());
  return { peer, statuses };
}

function inProcessAnalyzer(server: TestServer, over: Partial<AnalyzerConfig> = {}): Analyzer {
  const analyzer = makeAnalyzer(server, over);
  cleanup.push(() => analyzer.stop());
  return analyzer;
}

describe('analyzer', () => {
  it('receives a published frame with its content intact, as an invisible participant', async () => {
    const server = await startTestServer({ ANALYZER: 'external', ANALYZER_STALL_MS: '2000' });
    cleanup.push(() => server.close());
    const analyzer = inProcessAnalyzer(server);
    await analyzer.loadModels();
    const sampled: I420Frame[] = [];
    analyzer.on('sampled', (id, f) => id.participantId === 'pat' && sampled.push({ ...f, data: f.data.slice() }));
    analyzer.start();

    const doctor = await publisher(server, 'clinician', 'doc', quadrants);
    await publisher(server, 'patient', 'pat', quadrants);
    await waitFor('sampled frames of the patient', () => sampled.length >= 3, 15000);
    const last = sampled[sampled.length - 1]!;
    expect([last.width, last.height]).toEqual([320, 240]);
    quadrantMeans(last).forEach((m, i) => expect(Math.abs(m - QUADRANTS[i]!)).toBeLessThan(12));

    // Invisible to everyone, and analysis reported available to the clinician.
    expect(doctor.peer.session.participants.map((p) => p.id)).toEqual(['pat']);
    await waitFor('analysis available', () => doctor.statuses.at(-1)?.available === true);
    // Samples are counted per stream.
    await waitFor('metrics', () => (analyzer.streamStats('demo/pat/video')?.pushed ?? 0) >= 3);
    expect(await analyzer.renderMetrics()).toMatch(/dfs_analyzer_samples_total\{kind="video",stream="demo\/pat\/video"\} \d+/);
    // A frame of flat quadrants has no face, and that is what gets reported.
    for (const end = Date.now() + 10_000; !/dfs_analyzer_frame_quality_total\{reason="no-face",stream="demo\/pat\/video"\} [1-9]/.test(await analyzer.renderMetrics()); ) {
      if (Date.now() > end) throw new Error('timed out waiting for a quality report');
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  it('finds and scores real faces that went through VP8: a deepfake crop scores faker than a real one', async () => {
    const server = await startTestServer({ ANALYZER: 'external' });
    cleanup.push(() => server.close());
    const analyzer = inProcessAnalyzer(server, { baseFps: 4 });
    await analyzer.loadModels();
    const scores = new Map<string, number[]>();
    const qualities: string[] = [];
    analyzer.on('observation', (o) => {
      if (o.kind !== 'video') return;
      qualities.push(o.quality);
      if (o.deepfake !== undefined) scores.set(o.stream.participantId, [...(scores.get(o.stream.participantId) ?? []), o.deepfake]);
    });
    analyzer.start();
    for (const [sub, file] of [['real', 'real/real00240.jpg'], ['fake', 'df/df00204.jpg']] as const) {
      const video = new SyntheticVideo(faceStill(`faces/mesonet/${file}`));
      const peer = new HeadlessParticipant({ url: server.url, room: 'demo', token: server.token('demo', 'patient', sub, { sub }), tracks: [video.track] });
      await peer.join();
      cleanup.push(() => video.stop(), () => peer.leave());
    }
    // The first frames come at a low bitrate while the encoder ramps up: judge the later ones.
    await waitFor('6 scores per caller', () => (scores.get('real')?.length ?? 0) >= 6 && (scores.get('fake')?.length ?? 0) >= 6, 30000);
    const lastMean = (xs: number[]) => xs.slice(-4).reduce((a, b) => a + b, 0) / 4;
    const real = lastMean(scores.get('real')!);
    const fake = lastMean(scores.get('fake')!);
    expect(real).toBeLessThan(0.4);
    expect(fake).toBeGreaterThan(0.6);
    expect(fake - real).toBeGreaterThan(0.3);
    expect(qualities.filter((q) => q === 'ok').length).toBeGreaterThanOrEqual(6);
    // What fusion was told went to the server and sits in the audit log beside the call (by
    // default, AUDIT_EVIDENCE_DAYS=90), for calibration on this deployment's own calls: MesoNet's
    // readings of the swapped crop, read fake there too; numbers only.
    const callId = server.app.risk.callId('demo')!;
    await waitFor('evidence in the audit log', () => server.app.audit.callEvidence(callId, 'fake').length > 2, 10000);
    const told = server.app.audit.callEvidence(callId, 'fake').flatMap((b) => b.inputs);
    const meso = told.filter((x) => x[0] === 'e' && x[2] === 'face-deepfake' && x[3] !== null).map((x) => x[3] as number);
    expect(meso.length).toBeGreaterThanOrEqual(4);
    expect(meso.slice(-4).reduce((a, b) => a + b, 0) / 4).toBeGreaterThan(0.6);
    expect(told.some((x) => x[0] === 'u')).toBe(true);
  });

  it('behind a deliberately slow model, drops old samples: bounded queue, bounded lag', async () => {
    const server = await startTestServer({ ANALYZER: 'external' });
    cleanup.push(() => server.close());
    const analyzer = inProcessAnalyzer(server, { baseFps: 6, queueCapacity: 3 });
    const SLOW_MS = 400;
    await analyzer.loadModels((runner, id) =>
      id !== 'blazeface-short'
        ? runner
        : { ...runner, run: async (feeds) => (await new Promise((r) => setTimeout(r, SLOW_MS)), runner.run(feeds)) },
    );
    const lags: number[] = [];
    analyzer.on('observation', (o) => o.kind === 'video' && lags.push(o.latencyMs));
    let maxQueued = 0;
    analyzer.start();
    await publisher(server, 'patient', 'pat', quadrants);
    const key = 'demo/pat/video';
    const poll = setInterval(() => (maxQueued = Math.max(maxQueued, analyzer.streamStats(key)?.queued ?? 0)), 20);
    cleanup.push(() => clearInterval(poll));
    await waitFor('6 s of sampling', () => (analyzer.streamStats(key)?.pushed ?? 0) >= 36, 20000);
    const st = analyzer.streamStats(key)!;
    // 6 fps in, at most 2.5 analysed per second: the rest is dropped, oldest first.
    expect(st.dropped).toBeGreaterThan(st.pushed / 3);
    expect(st.pushed).toBe(st.taken + st.dropped + st.queued);
    expect(maxQueued).toBeLessThanOrEqual(3);
    // Analysed samples are recent ones: lag stays near (queue + 1) x model time, however long it runs.
    const late = lags.slice(-5);
    expect(late.length).toBe(5);
    for (const l of late) expect(l).toBeLessThan(4 * SLOW_MS + 600);
    expect(await analyzer.renderMetrics()).toMatch(/dfs_analyzer_samples_dropped_total\{kind="video",stream="demo\/pat\/video"\} [1-9]/);
  });

  it('a voice model that fails on every window reads "analysis degraded" for the synthetic-voice check, not a quiet gap', async () => {
    const server = await startTestServer({ ANALYZER: 'external' });
    cleanup.push(() => server.close());
    const analyzer = inProcessAnalyzer(server);
    // As if the voice model's thread had gone: every run rejects.
    await analyzer.loadModels((runner, id) =>
      id !== 'aasist-l' ? runner : { ...runner, run: () => Promise.reject(new Error('the inference thread of model "aasist-l" exited (code 1)')) },
    );
    const updates: RiskUpdate[] = [];
    analyzer.on('risk', (_room, u) => updates.push(u));
    analyzer.start();
    // A caller speaking (LibriSpeech, 48 kHz), with a plain picture: only the voice path matters here.
    const pcm = await realVoice();
    const audio = new LoopedAudio(pcm);
    const video = new SyntheticVideo({ paint: quadrants, width: 320, height: 240 });
    const peer = new HeadlessParticipant({ url: server.url, room: 'demo', token: server.token('demo', 'patient', 'pat', { sub: 'pat' }), tracks: [audio.track, video.track] });
    await peer.join();
    cleanup.push(() => video.stop(), () => audio.stop(), () => peer.leave());
    // Windows every 2 s from 4 s on; a rate is judged over 10 s of live input.
    await waitFor('the voice check reported degraded', () => updates.some((u) => u.participantId === 'pat' && (u.degraded ?? []).some((d) => d.detector === 'synthetic-voice')), 40_000);
    const d = updates.findLast((u) => (u.degraded ?? []).some((x) => x.detector === 'synthetic-voice'))!;
    expect(d.degraded!.find((x) => x.detector === 'synthetic-voice')).toMatchObject({ achieved: 0 });
    expect(d.state).not.toBe('CLEAR');
  }, 60_000);

  it('a CLEAR caller whose voice reads confidently natural, face judged too, gets the voice model every 8 s; one heard only, every 4 s', async () => {
    const server = await startTestServer({ ANALYZER: 'external' });
    cleanup.push(() => server.close());
    const analyzer = inProcessAnalyzer(server);
    // What is under test is the hop, not the model: every window reads confidently natural.
    await analyzer.loadModels((runner, id) =>
      id !== 'aasist-l' ? runner : { ...runner, run: () => Promise.resolve({ logits: new Tensor('float32', Float32Array.from([-5, 5]), [1, 2]) }) },
    );
    const windows = new Map<string, number[]>();
    const states = new Map<string, string>();
    analyzer.on('observation', (o) => {
      if (o.kind === 'audio' && o.syntheticVoice !== undefined) windows.set(o.stream.participantId, [...(windows.get(o.stream.participantId) ?? []), Date.now()]);
    });
    const pitch = new Map<string, number>();
    analyzer.on('risk', (_room, u) => {
      states.set(u.participantId, u.state);
      const score = u.reasons.find((x) => x.detector === 'pitch-jitter')?.score;
      if (score !== undefined) pitch.set(u.participantId, score);
    });
    analyzer.start();
    const pcm = await realVoice();
    const video = new SyntheticVideo(faceStill());
    const [seenVoice, heardVoice] = [new LoopedAudio(pcm), new LoopedAudio(pcm)];
    const seen = new HeadlessParticipant({ url: server.url, room: 'demo', token: server.token('demo', 'patient', 'seen', { sub: 'seen' }), tracks: [seenVoice.track, video.track] });
    const heard = new HeadlessParticipant({ url: server.url, room: 'demo', token: server.token('demo', 'patient', 'heard', { sub: 'heard' }), tracks: [heardVoice.track] });
    await Promise.all([seen.join(), heard.join()]);
    cleanup.push(() => video.stop(), () => seenVoice.stop(), () => heardVoice.stop(), () => seen.leave(), () => heard.leave());
    await waitFor('both callers CLEAR', () => states.get('seen') === 'CLEAR' && states.get('heard') === 'CLEAR', 45_000);
    const from = Date.now();
    await new Promise((r) => setTimeout(r, 32_000));
    const count = (p: string) => (windows.get(p) ?? []).filter((t) => t >= from).length;
    // 32 s of continuous speech: 4 windows (+-1) at the 8 s hop, 8 (+-1) at the 4 s hop.
    expect(count('seen')).toBeGreaterThanOrEqual(3);
    expect(count('seen')).toBeLessThanOrEqual(5);
    expect(count('heard')).toBeGreaterThanOrEqual(7);
    // Fusion needs one reading per 20 s (minSamples 1): neither caller loses its verdict.
    expect(states.get('seen')).toBe('CLEAR');
    expect(states.get('heard')).toBe('CLEAR');
    // The voice-pitch cue hears every 10 ms of the same audio, whatever the model's hop: a human
    // voice, through Opus, reads human.
    for (const p of ['seen', 'heard']) expect(pitch.get(p)).toBeLessThan(0.5);
  }, 120_000);

  it('video that stops reaching the analyzer while the camera is on reads DEGRADED, not CLEAR on the voice alone; a camera turned off does not', async () => {
    const server = await startTestServer({ ANALYZER: 'external' });
    cleanup.push(() => server.close());
    const analyzer = inProcessAnalyzer(server);
    await analyzer.loadModels();
    const last = new Map<string, RiskUpdate>();
    const seen = new Map<string, Set<string>>();
    analyzer.on('risk', (_room, u) => {
      last.set(u.participantId, u);
      seen.set(u.participantId, (seen.get(u.participantId) ?? new Set()).add(u.state));
    });
    analyzer.start();
    const pcm = await realVoice();
    const caller = (sub: string) => {
      const video = new SyntheticVideo(faceStill());
      const voice = new LoopedAudio(pcm);
      const peer = new HeadlessParticipant({ url: server.url, room: 'demo', token: server.token('demo', 'patient', sub, { sub }), tracks: [voice.track, video.track] });
      cleanup.push(() => video.stop(), () => voice.stop(), () => peer.leave());
      return { video, peer };
    };
    const [frozen, off] = [caller('frozen'), caller('off')];
    await Promise.all([frozen.peer.join(), off.peer.join()]);
    await waitFor('both callers CLEAR', () => last.get('frozen')?.state === 'CLEAR' && last.get('off')?.state === 'CLEAR', 45_000);
    // One camera stops delivering (a stalled network or decoder), the other is turned off.
    frozen.video.held = true;
    off.video.held = true;
    await off.peer.session.setMedia({ audio: true, video: false });
    seen.clear();
    await waitFor('the frozen caller DEGRADED', () => last.get('frozen')?.state === 'DEGRADED', 20_000);
    const d = last.get('frozen')!.degraded!.find((x) => x.detector === 'face-deepfake')!;
    expect(d).toMatchObject({ achieved: 0, why: 'stalled' });
    expect(d.reason).toMatch(/no video has reached the analyzer .* camera is on/);
    // The voice alone judges the caller whose camera is off: no face, so no claim about it.
    await new Promise((r) => setTimeout(r, 4000));
    expect([...(seen.get('off') ?? [])]).toEqual(['CLEAR']);
    expect(last.get('off')!.degraded).toBeUndefined();
    // Frames again: the face is judged and the all-clear comes back.
    frozen.video.held = false;
    await waitFor('the frozen caller CLEAR again', () => last.get('frozen')?.state === 'CLEAR' && last.get('frozen')!.degraded === undefined, 20_000);
  }, 120_000);

  it('a still image sent as video (the same frame every time) is not vouched for: the face checks stop judging it and it reads INSUFFICIENT_SIGNAL, saying why; a live camera on the same face stays CLEAR', async () => {
    const server = await startTestServer({ ANALYZER: 'external' });
    cleanup.push(() => server.close());
    const analyzer = inProcessAnalyzer(server);
    await analyzer.loadModels();
    const last = new Map<string, RiskUpdate>();
    analyzer.on('risk', (_room, u) => last.set(u.participantId, u));
    analyzer.start();
    const caller = (sub: string, frozen: boolean) => {
      const video = new SyntheticVideo(faceStill(undefined, { frozen }));
      const peer = new HeadlessParticipant({ url: server.url, room: 'demo', token: server.token('demo', 'patient', sub, { sub }), tracks: [video.track] });
      cleanup.push(() => video.stop(), () => peer.leave());
      return peer;
    };
    await Promise.all([caller('photo', true).join(), caller('live', false).join()]);
    await waitFor('the photo INSUFFICIENT_SIGNAL, for its frozen picture', () => last.get('photo')?.state === 'INSUFFICIENT_SIGNAL' && last.get('photo')!.gaps.includes(QUALITY_GAPS.frozen), 60_000);
    expect(last.get('photo')!.reasons.map((r) => r.detector)).not.toContain('face-deepfake');
    // The window detectors stop reading it too (landmark jitter's 16 s window drains): no pulse "found" on a photo.
    await waitFor('no face detector judging the photo', () => last.get('photo')!.reasons.length === 0, 20_000);
    expect(last.get('photo')!.state).toBe('INSUFFICIENT_SIGNAL');
    expect(last.get('live')?.state).toBe('CLEAR');
    expect(last.get('live')!.gaps).not.toContain(QUALITY_GAPS.frozen);
  }, 120_000);

  it('face frames count for the window detectors: none degraded while the mesh keeps up; pulse and landmark jitter degraded (not the state) when it cannot', async () => {
    const server = await startTestServer({ ANALYZER: 'external' });
    cleanup.push(() => server.close());
    const analyzer = inProcessAnalyzer(server);
    // A mesh that can be made slow: 200 ms a run caps it at 5 face frames a second, below pulse's 5.5 and landmark jitter's 6.
    let slowMesh = false;
    await analyzer.loadModels((runner, id) =>
      id !== 'face-landmarks' ? runner : { ...runner, run: async (feeds) => (slowMesh && (await new Promise((r) => setTimeout(r, 200))), runner.run(feeds)) },
    );
    const updates: RiskUpdate[] = [];
    analyzer.on('risk', (_room, u) => updates.push(u));
    analyzer.start();
    const video = new SyntheticVideo(faceStill());
    const peer = new HeadlessParticipant({ url: server.url, room: 'demo', token: server.token('demo', 'patient', 'pat', { sub: 'pat' }), tracks: [video.track] });
    await peer.join();
    cleanup.push(() => video.stop(), () => peer.leave());
    await waitFor('CLEAR', () => updates.at(-1)?.state === 'CLEAR', 30_000);
    // 15 s more: long enough for the 10 s rate windows; the face frames keep up, nothing is degraded.
    const from = updates.length;
    await new Promise((r) => setTimeout(r, 15_000));
    expect(updates.slice(from).flatMap((u) => u.degraded ?? [])).toEqual([]);
    slowMesh = true;
    const starved = () => new Set((updates.at(-1)?.degraded ?? []).map((d) => d.detector));
    await waitFor('pulse and landmark jitter degraded', () => starved().has('pulse') && starved().has('landmark-jitter'), 30_000);
    const u = updates.at(-1)!;
    expect(u.degraded!.find((d) => d.detector === 'pulse')).toMatchObject({ why: 'behind', needed: 5.5 });
    expect(u.degraded!.find((d) => d.detector === 'pulse')!.reason).toMatch(/face frames a second for the pulse check, which needs 5\.5\.$/);
    // The face classifiers still get their samples: additive detectors starved do not take the verdict.
    expect(starved().has('face-deepfake')).toBe(false);
    expect(u.state).toBe('CLEAR');
  }, 120_000);

  it('killed or stalled: calls continue, privileged roles are told, it comes back and resumes', async () => {
    const server = await startTestServer({ ANALYZER: 'embedded', ANALYZER_STALL_MS: '3000', ANALYZER_HEARTBEAT_MS: '300' });
    cleanup.push(() => server.close());
    const doctor = await publisher(server, 'clinician', 'doc', quadrants);
    const patient = await publisher(server, 'patient', 'pat', quadrants);
    let framesAtDoctor = 0;
    const track = await doctor.peer.waitForTrack('pat', 'video');
    cleanup.push(onVideoFrames(track.track, () => framesAtDoctor++));
    const analyzerIn = () => server.app.registry.get('demo')!.size === 3;

    await waitFor('analysis available', () => doctor.statuses.at(-1)?.available === true, 30000);
    await waitFor('the analyzer in the call', analyzerIn, 10000);

    // 1. The process dies.
    process.kill(server.app.analyzer!.pid!, 'SIGKILL');
    await waitFor('"analysis unavailable" at the clinician', () => doctor.statuses.at(-1)?.available === false, 5000);
    expect(doctor.statuses.at(-1)?.reason).toMatch(/restarting/);
    const before = framesAtDoctor;
    await waitFor('the call to keep flowing', () => framesAtDoctor > before + 15, 5000);
    await waitFor('analysis back', () => doctor.statuses.at(-1)?.available === true, 30000);
    await waitFor('the analyzer back in the call', analyzerIn, 10000);
    expect(server.app.analyzer!.restarts).toBe(1);

    // 2. The process hangs (stops sending heartbeats): it is killed and restarted.
    const pid = server.app.analyzer!.pid!;
    process.kill(pid, 'SIGSTOP');
    await waitFor('"analysis unavailable" after a stall', () => doctor.statuses.at(-1)?.available === false, 8000);
    await waitFor('analysis back after the stall', () => doctor.statuses.at(-1)?.available === true, 30000);
    expect(server.app.analyzer!.pid).not.toBe(pid);
    expect(server.app.analyzer!.restarts).toBe(2);

    // The analysed participant never heard any of it.
    expect(patient.statuses).toEqual([]);
    const metrics = await fetch(`${server.url.replace('localhost', '127.0.0.1')}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/dfs_analyzer_restarts_total 2/);
    expect(metrics).toMatch(/dfs_analysis_available 1/);
  });
});
