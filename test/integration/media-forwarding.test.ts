/**
 * Node peers (@roamhq/wrtc) publish synthetic audio and video through the real server and SFU;
 * each must receive the other's decoded frames and PCM with their content intact. On each engine.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeadlessParticipant, onAudioData, onVideoFrames, type PcmBlock } from '../../server/src/headless/HeadlessParticipant.ts';
import { SyntheticAudio, SyntheticVideo, solidLuma } from '../../server/src/headless/syntheticMedia.ts';
import type { I420Frame } from '../../server/src/headless/wrtc.ts';
import { ENGINES, startTestServer, waitFor, type TestServer } from '../helpers/server.ts';
import { meanLuma, tonePower } from '../helpers/signal.ts';

interface Caller {
  peer: HeadlessParticipant;
  id: string;
  stop(): void;
}

let server: TestServer;
const stops: Array<() => void> = [];

async function caller(role: 'clinician' | 'patient', luma: number, hz: number, sub?: string): Promise<Caller> {
  const video = new SyntheticVideo({ paint: solidLuma(luma) });
  const audio = new SyntheticAudio({ frequencyHz: hz });
  const peer = new HeadlessParticipant({
    url: server.url,
    room: 'demo',
    token: server.token('demo', role, `${role} peer`, sub ? { sub } : {}),
    tracks: [audio.track, video.track],
  });
  const joined = await peer.join();
  const stop = () => {
    video.stop();
    audio.stop();
    void peer.leave();
  };
  stops.push(stop);
  return { peer, id: joined.self.id, stop };
}

async function collect(peer: HeadlessParticipant, fromId: string) {
  const frames: I420Frame[] = [];
  const pcm: PcmBlock[] = [];
  const v = await peer.waitForTrack(fromId, 'video');
  const a = await peer.waitForTrack(fromId, 'audio');
    // Sink events reuse their buffers: copy what we keep.
  stops.push(
    onVideoFrames(v.track, (f) => frames.length < 30 && frames.push({ width: f.width, height: f.height, data: f.data.slice() })),
  );
  stops.push(
    onAudioData(
      a.track,
      (b) =>
        // libwebrtc plays out 16 kHz silence until the first Opus packet decodes: keep 48 kHz only.
        b.sampleRate === 48000 &&
        pcm.length < 300 &&
        pcm.push({ samples: b.samples.slice(), sampleRate: b.sampleRate, channelCount: b.channelCount }),
    ),
  );
  return { frames, pcm };
}

function concatMono(blocks: PcmBlock[]): Int16Array {
  const out = new Int16Array(blocks.reduce((n, b) => n + b.samples.length / b.channelCount, 0));
  let o = 0;
  for (const b of blocks) for (let i = 0; i < b.samples.length; i += b.channelCount) out[o++] = b.samples[i] ?? 0;
  return out;
}

describe.each(ENGINES)('media through the SFU (%s)', (engine) => {
  beforeAll(async () => {
    server = await startTestServer({ SFU_ENGINE: engine });
    expect(server.app.engine.name).toBe(engine);
  });
  afterAll(async () => {
    stops.splice(0).forEach((s) => s());
    await server.close();
  });

  it('two publishers each receive the other’s decoded video and audio, and a supervisor receives both', async () => {
    const doctor = await caller('clinician', 200, 440);
    const patient = await caller('patient', 50, 1000);

    const supervisor = new HeadlessParticipant({ url: server.url, room: 'demo', token: server.token('demo', 'supervisor') });
    const supJoin = await supervisor.join();
    stops.push(() => void supervisor.leave());
    expect(supJoin.canPublish).toBe(false);

    const atPatient = await collect(patient.peer, doctor.id);
    const atDoctor = await collect(doctor.peer, patient.id);
    const atSupFromDoctor = await collect(supervisor, doctor.id);
    const atSupFromPatient = await collect(supervisor, patient.id);

    for (const c of [atPatient, atDoctor, atSupFromDoctor, atSupFromPatient]) {
      await waitFor('10 decoded frames and 1.5 s of PCM', () => c.frames.length >= 10 && c.pcm.length >= 150, 15000);
    }
    // Content intact: each side sees the other's luma, not its own.
    const lumaOf = (fs: I420Frame[]) => meanLuma(fs[fs.length - 1]!);
    expect(lumaOf(atPatient.frames)).toBeGreaterThan(185);
    expect(lumaOf(atPatient.frames)).toBeLessThan(215);
    expect(lumaOf(atDoctor.frames)).toBeGreaterThan(35);
    expect(lumaOf(atDoctor.frames)).toBeLessThan(65);
    expect(lumaOf(atSupFromDoctor.frames)).toBeGreaterThan(185);
    expect(lumaOf(atSupFromPatient.frames)).toBeLessThan(65);
    expect(atPatient.frames[0]!.width).toBe(320);

    // Audio: the other side's tone dominates the one it did not send.
    const pcmAtPatient = concatMono(atPatient.pcm);
    const pcmAtDoctor = concatMono(atDoctor.pcm);
    const rate = 48000;
    expect(tonePower(pcmAtPatient, rate, 440)).toBeGreaterThan(20 * tonePower(pcmAtPatient, rate, 1000));
    expect(tonePower(pcmAtDoctor, rate, 1000)).toBeGreaterThan(20 * tonePower(pcmAtDoctor, rate, 440));

    // The supervisor published nothing and is invisible to the patient, visible to the clinician.
    expect(patient.peer.session.participants.map((p) => p.role)).toEqual(['clinician']);
    expect(doctor.peer.session.participants.map((p) => p.role).sort()).toEqual(['patient', 'supervisor']);
    expect(doctor.peer.session.remoteTracks.filter((t) => t.participantId === supJoin.self.id)).toHaveLength(0);

    // The patient leaves and another caller publishes: the clinician gets the newcomer's media on
    // the reused receive slots, with nothing left over from the first patient.
    patient.stop();
    await waitFor('the first patient’s tracks to go', () => doctor.peer.session.remoteTracks.every((t) => t.participantId !== patient.id));
    const second = await caller('patient', 140, 700);
    const atDoctor2 = await collect(doctor.peer, second.id);
    await waitFor('media from the second patient', () => atDoctor2.frames.length >= 10 && atDoctor2.pcm.length >= 100, 15000);
    expect(lumaOf(atDoctor2.frames)).toBeGreaterThan(125);
    expect(lumaOf(atDoctor2.frames)).toBeLessThan(155);
    const pcm2 = concatMono(atDoctor2.pcm);
    expect(tonePower(pcm2, rate, 700)).toBeGreaterThan(20 * tonePower(pcm2, rate, 1000));
    expect(doctor.peer.session.remoteTracks.map((t) => t.participantId).sort()).toEqual([second.id, second.id]);
  });
});
