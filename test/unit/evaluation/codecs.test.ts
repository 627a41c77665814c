/**
 * `npm run eval -- --through`: how a codec list is read, and the errors a wrong one gets.
 * The encoding itself runs ffmpeg: test/integration/eval-through.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { callCodecsName, parseCallCodecs } from '../../../server/src/evaluation/codecs.ts';

describe('parseCallCodecs', () => {
  it('reads a video and an audio codec, with their bit rates or the defaults', () => {
    expect(parseCallCodecs('vp8:150,opus:24')).toEqual({ video: { codec: 'vp8', kbps: 150 }, audio: { codec: 'opus', kbps: 24 } });
    // Defaults: libwebrtc's start bitrate for video, Chromium's Opus rate for a mono voice.
    expect(parseCallCodecs('opus, vp8')).toEqual({ video: { codec: 'vp8', kbps: 300 }, audio: { codec: 'opus', kbps: 32 } });
    expect(parseCallCodecs('telephone')).toEqual({ audio: { codec: 'telephone' } });
    expect(parseCallCodecs('vp8:2500')).toEqual({ video: { codec: 'vp8', kbps: 2500 } });
  });

  it('writes the canonical spelling back, which it reads as the same codecs', () => {
    for (const spec of ['vp8:150,opus:24', 'telephone', 'opus:64', 'telephone,vp8:300']) {
      const c = parseCallCodecs(spec);
      expect(parseCallCodecs(callCodecsName(c))).toEqual(c);
    }
    expect(callCodecsName(parseCallCodecs('telephone,vp8'))).toBe('vp8:300,telephone');
    expect(callCodecsName(undefined)).toBe('');
  });

  it('refuses what a call cannot be, saying why', () => {
    expect(() => parseCallCodecs('h264:300')).toThrow(/unknown codec "h264".*vp8\[:KBPS\], opus\[:KBPS\], telephone/);
    expect(() => parseCallCodecs('opus:32,telephone')).toThrow(/more than one audio codec/);
    expect(() => parseCallCodecs('vp8,vp8:150')).toThrow(/more than one video codec/);
    expect(() => parseCallCodecs('opus:2')).toThrow(/whole number of kbit\/s from 6 to 510, got "opus:2"/);
    expect(() => parseCallCodecs('vp8:fast')).toThrow(/from 30 to 10000/);
    expect(() => parseCallCodecs('vp8:300:2')).toThrow(/bit rate/);
    expect(() => parseCallCodecs('opus:')).toThrow(/bit rate/);
    expect(() => parseCallCodecs('telephone:64')).toThrow(/telephone takes no bit rate/);
    expect(() => parseCallCodecs('vp8,')).toThrow(/empty codec/);
    expect(() => parseCallCodecs('')).toThrow(/empty codec/);
  });
});
