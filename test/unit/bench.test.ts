/** The benchmark's pure helpers: statistics, the clock painted into frames, SDP rewriting, the report. */
import { describe, expect, it } from 'vitest';
import { cpuPinning, pinned } from '../../scripts/bench/proc.ts';
import { renderMarkdown, type BenchResult } from '../../scripts/bench/report.ts';
import { preferVp8 } from '../../scripts/bench/sdpMunge.ts';
import { paintStamp, readStamp, STAMP_BITS, stampAge } from '../../scripts/bench/stamp.ts';
import { fitLinear, mean, median, quantile, RestartingCounters, round, summarize } from '../../scripts/bench/stats.ts';

describe('quantiles', () => {
  it('interpolate between closest ranks, whatever the input order', () => {
    const v = [5, 1, 4, 2, 3];
    expect(quantile(v, 0)).toBe(1);
    expect(quantile(v, 1)).toBe(5);
    expect(median(v)).toBe(3);
    expect(quantile(v, 0.25)).toBe(2);
    expect(quantile([10, 20], 0.95)).toBeCloseTo(19.5);
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(v).toEqual([5, 1, 4, 2, 3]); // not sorted in place
  });

  it('are NaN for no values and refuse q outside [0, 1]', () => {
    expect(quantile([], 0.5)).toBeNaN();
    expect(mean([])).toBeNaN();
    expect(() => quantile([1], 1.5)).toThrow(/within/);
  });

  it('summaries carry n, p50, p95, min, max and mean', () => {
    const s = summarize(Array.from({ length: 101 }, (_, i) => i));
    expect(s).toEqual({ n: 101, p50: 50, p95: 95, min: 0, max: 100, mean: 50 });
    expect(summarize([]).n).toBe(0);
  });

  it('rounding for JSON turns non-finite values into null', () => {
    expect(round(1.2345, 2)).toBe(1.23);
    expect(round(NaN)).toBeNull();
    expect(round(Infinity)).toBeNull();
  });
});

describe('counters that start again (RestartingCounters)', () => {
  it('carries totals across a restart from 0, as a rate over counter resets does, and counts restarts', () => {
    const c = new RestartingCounters();
    c.observe('caller-0', 100);
    c.observe('caller-1', 50);
    const t0 = c.total;
    c.observe('caller-0', 160); // +60
    c.observe('caller-1', 20); // started again (a rejoin): +20, not -30
    expect(c.total - t0).toBe(80);
    expect(c.restarts).toBe(1);
    c.observe('caller-2', 7); // a new key counts from 0
    expect(c.total - t0).toBe(87);
    expect(c.restarts).toBe(1);
  });
});

describe('linear fit', () => {
  it('recovers an exact line', () => {
    const f = fitLinear([[0], [1], [2], [3]], [1, 3, 5, 7]);
    expect(f.coefficients[0]).toBeCloseTo(1);
    expect(f.coefficients[1]).toBeCloseTo(2);
    expect(f.r2).toBeCloseTo(1);
    expect(f.rmse).toBeCloseTo(0);
  });

  it('recovers two regressors (CPU = idle + a·streams + b·forwarded copies)', () => {
    const points = [
      [0, 0],
      [1, 1],
      [2, 2],
      [4, 4],
      [1, 2],
      [1, 4],
      [2, 4],
    ];
    const y = points.map(([p, f]) => 0.01 + 0.05 * p! + 0.02 * f!);
    const fit = fitLinear(points, y);
    expect(fit.coefficients.map((c) => Number(c.toFixed(6)))).toEqual([0.01, 0.05, 0.02]);
  });

  it('is the least-squares answer for noisy points', () => {
    // y = x plus symmetric noise: the slope stays 1, the intercept 0; r2 below 1.
    const f = fitLinear([[0], [0], [2], [2]], [-1, 1, 1, 3]);
    expect(f.coefficients[0]).toBeCloseTo(0);
    expect(f.coefficients[1]).toBeCloseTo(1);
    expect(f.r2).toBeCloseTo(0.5);
    expect(f.rmse).toBeCloseTo(1);
  });

  it('refuses too few points and collinear regressors', () => {
    expect(() => fitLinear([[1]], [1])).toThrow(/at least 2 points/);
    expect(() => fitLinear([[1, 2], [2, 4], [3, 6], [4, 8]], [1, 2, 3, 4])).toThrow(/collinear/);
    expect(() => fitLinear([[1], [2]], [1])).toThrow(/as many rows/);
  });
});

describe('clock in the picture', () => {
  const frame = () => ({ width: 640, height: 480, data: new Uint8Array((640 * 480 * 3) / 2).fill(90) });

  it('reads back what was painted, over the whole range', () => {
    for (const ms of [0, 1, 12345, 2 ** STAMP_BITS - 1, 987654.4]) {
      const f = frame();
      paintStamp(f, ms);
      expect(readStamp(f)).toBe(Math.round(ms) % 2 ** STAMP_BITS);
    }
  });

  it('survives codec-like noise but rejects a frame without a stamp', () => {
    const f = frame();
    paintStamp(f, 4242);
    for (let i = 0; i < 640 * 32; i++) f.data[i] = Math.max(0, Math.min(255, f.data[i]! + ((i * 7919) % 41) - 20));
    expect(readStamp(f)).toBe(4242);
    expect(readStamp(frame())).toBeUndefined();
    expect(readStamp({ width: 64, height: 64, data: new Uint8Array(64 * 96) })).toBeUndefined();
  });

  it('ages allow for the wrap of the clock', () => {
    expect(stampAge(1000, 1040)).toBe(40);
    expect(stampAge(2 ** STAMP_BITS - 10, 2 ** STAMP_BITS + 30)).toBe(40);
  });
});

describe('direct link SDP', () => {
  const offer = [
    'v=0',
    'o=- 1 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'm=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99',
    'c=IN IP4 0.0.0.0',
    'a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
    'a=extmap:9 urn:ietf:params:rtp-hdrext:sdes:mid',
    'a=rtpmap:96 VP8/90000',
    'a=rtcp-fb:96 goog-remb',
    'a=rtcp-fb:96 transport-cc',
    'a=rtcp-fb:96 nack',
    'a=rtpmap:97 rtx/90000',
    'a=fmtp:97 apt=96',
    'a=rtpmap:98 VP9/90000',
    'a=fmtp:98 profile-id=0',
    'a=rtpmap:99 rtx/90000',
    'a=fmtp:99 apt=98',
    '',
  ].join('\r\n');

  it('keeps VP8 and its rtx only, the mid extension only, and pins the bitrate', () => {
    const out = preferVp8(offer, 400).split('\r\n');
    expect(out).toContain('m=video 9 UDP/TLS/RTP/SAVPF 96 97');
    expect(out.some((l) => l.includes('VP9') || l.startsWith('a=fmtp:98') || l.startsWith('a=rtpmap:99'))).toBe(false);
    expect(out.filter((l) => l.startsWith('a=extmap'))).toEqual(['a=extmap:9 urn:ietf:params:rtp-hdrext:sdes:mid']);
    expect(out.filter((l) => l.startsWith('a=rtcp-fb'))).toEqual(['a=rtcp-fb:96 nack']);
    expect(out).toContain('a=fmtp:96 x-google-start-bitrate=400;x-google-min-bitrate=400;x-google-max-bitrate=400');
    expect(out).toContain('a=fmtp:97 apt=96');
  });

  it('leaves an SDP without video alone', () => {
    const audioOnly = 'v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n';
    expect(preferVp8(audioOnly)).toBe(audioOnly);
  });
});

describe('report', () => {
  it('renders every section it has, and says which failed', () => {
    const s = summarize([10, 20, 30]);
    const r: BenchResult = {
      startedAt: '2026-01-01T00:00:00.000Z',
      durationS: 60,
      command: 'npm run bench',
      machine: { cpuModel: 'Test CPU', cores: 2, ramGB: 4, node: 'v24.0.0', platform: 'linux-x64', kernel: '6', loadAtStart: [0.1, 0.2, 0.3] },
      load: { min: 0.1, mean: 0.2, max: 0.3, samples: 3 },
      sections: { sfu: { seconds: 150, load1AtStart: 0.5, load1AtEnd: 1.25 } },
      sfu: {
        fps: 15,
        width: 640,
        height: 480,
        points: [
          { publishers: 1, subscribersPerPublisher: 1, forwarded: 1, seconds: 10, serverCpu: 0.08, serverRssMB: 150, loadGeneratorCpu: 0.2, machineBusy: 0.2, load1: 0.5, udpDrops: 0, receivedKbps: 400, receivedFps: 15, latencyMs: s, unreadableFrames: 0 },
        ],
        fit: { idleCpu: 0, perStreamCpu: 0.06, perSubscriberCpu: 0.02, oneStreamOneSubscriberCpu: 0.08, r2: 0.99, rmse: 0.001 },
        direct: { latencyMs: summarize([5, 15, 25]), receivedKbps: 400, receivedFps: 15, codec: 'video/VP8', unreadableFrames: 0, runs: [{ p50: 14, p95: 24 }, { p50: 16, p95: 25 }] },
        addedLatencyMs: { p50: 5, p95: 5 },
        noiseMs: 2,
      },
      alert: {
        clip: 'fake-tts',
        runs: [{ run: 1, clearAfterMs: 2000, realMs: 10000, stateAtSwitch: 'CLEAR', alertOnReal: false, suspiciousAfterMs: 8000, alertAfterMs: 9000, timeline: [[9000, 'ALERT']] }],
        alertMs: summarize([9000]),
        suspiciousMs: summarize([8000]),
        timeouts: 0,
        timeoutSeconds: 90,
      },
      errors: { analyzer: 'Error: the analyzer exited (1)\n  at somewhere' },
    };
    const md = renderMarkdown(r);
    expect(md).toContain('Test CPU, 2 cores');
    expect(md).toContain('sections: sfu 150 s (load 0.50 → 1.25)');
    expect(md).toContain('### SFU');
    expect(md).toContain('**+5 ms** at p50');
    expect(md).toContain('two runs: 14 and 16 ms');
    expect(md).toContain('6.0% of one core per published');
    expect(md).toContain('**analyzer failed:** Error: the analyzer exited (1)');
    expect(md).not.toContain('at somewhere');
    expect(md).toContain('p50 9.0 s');
    expect(md).toContain('switches from the real clip to the fake-tts clip');
    expect(md).not.toContain('### Inference');
  });
});

describe('CPU pinning (--analyzer-cpus)', () => {
  it('gives the analyzer its list and everyone else the rest', () => {
    expect(cpuPinning('0', 2)).toEqual({ analyzer: '0', others: '1', analyzerCount: 1 });
    expect(cpuPinning('1-2, 5', 8)).toEqual({ analyzer: '1,2,5', others: '0,3,4,6,7', analyzerCount: 3 });
    expect(pinned('0', [process.execPath, 'x.ts'])).toEqual(['/usr/bin/taskset', ['-c', '0', process.execPath, 'x.ts']]);
    expect(pinned(undefined, [process.execPath, 'x.ts'])).toEqual([process.execPath, ['x.ts']]);
  });

  it('refuses a list that is not CPUs of this machine or leaves none for the others', () => {
    expect(() => cpuPinning('0-1', 2)).toThrow(/leaves no CPU/);
    expect(() => cpuPinning('2', 2)).toThrow(/outside this machine's CPUs 0-1/);
    expect(() => cpuPinning('a', 2)).toThrow(/not a CPU number or range/);
    expect(() => cpuPinning('1-0', 2)).toThrow(/outside/);
  });
});
