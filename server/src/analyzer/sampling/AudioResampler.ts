/** A block of decoded PCM as RTCAudioSink delivers it: interleaved Int16, usually 10 ms. */
export interface PcmBlock {
  samples: Int16Array;
  sampleRate: number;
  channelCount: number;
}

export interface AudioResamplerOptions {
  /** Output sample rate. Default 16000 (what the audio models take). */
  outputRate?: number;
  /**
   * Width of the low-pass roll-off, ending at the lower of the two Nyquist frequencies, so nothing
   * above it can alias. Default 1200 Hz: 48 kHz → 16 kHz passes up to 6.8 kHz, where vocoder
   * artefacts still live, with 173 taps.
   */
  transitionHz?: number;
  /** Stop-band attenuation of the anti-aliasing filter. Default 70 dB. */
  stopbandDb?: number;
}

/** Interpolation factors above this would need an unreasonably large coefficient table. */
const MAX_UP = 1024;

/** Polyphase windowed-sinc (Kaiser) filter for one in→out rate pair. Immutable, so shared by all streams. */
interface Design {
  up: number; // L
  down: number; // M
  taps: number; // K, taps per phase
  /** coeffs[p * taps + taps - 1 - k] multiplies the input k samples back for output phase p. */
  coeffs: Float64Array;
}

const designs = new Map<string, Design>();
/**
 * Designs kept, least recently used first out. A table can be 0.3-11 MB (up to 1000 phases at an
 * odd rate): a stream whose rate changed to a new one on every block grew the cache for ever.
 */
const MAX_DESIGNS = 8;

/**
 * Streaming converter of interleaved Int16 PCM at any common rate (48, 44.1, 32, 24, 16, 8 kHz...)
 * to mono Float32 in [-1, 1) at 16 kHz.
 *
 * Rational resampling by L/M through a polyphase FIR: each output sample costs `taps` multiply-adds,
 * and the filter history carries across blocks so block boundaries are seamless. A change of input
 * rate (libwebrtc sends 16 kHz silence until the first Opus packet decodes, then 48 kHz) restarts
 * the filter from silence. Output stays at the same rate and position, so downstream is unaffected.
 */
export class AudioResampler {
  readonly outputRate: number;
  private readonly transitionHz: number;
  private readonly stopbandDb: number;
  private rate = 0;
  private design: Design | undefined;
  /** Filter history (taps - 1 samples) followed by the current block, downmixed. Float64 like the
   *  coefficients: the multiply-add loop then converts nothing, measurably faster in V8. */
  private buf = new Float64Array(0);
  private fill = 0;
  /** Position of the next output: newest input index it needs, and its polyphase phase. */
  private pos = 0;
  private phase = 0;
  private out = new Float32Array(0);
  private view = new Float32Array(0);

  constructor(options: AudioResamplerOptions = {}) {
    this.outputRate = options.outputRate ?? 16000;
    this.transitionHz = options.transitionHz ?? 1200;
    this.stopbandDb = options.stopbandDb ?? 70;
    if (!Number.isInteger(this.outputRate) || this.outputRate <= 0) throw new RangeError(`outputRate must be a positive integer, got ${this.outputRate}`);
    if (!(this.transitionHz > 0)) throw new RangeError(`transitionHz must be positive, got ${this.transitionHz}`);
    if (!(this.stopbandDb > 0)) throw new RangeError(`stopbandDb must be positive, got ${this.stopbandDb}`);
  }

  /** Input rate of the current stream segment; 0 before the first block. */
  get inputRate(): number {
    return this.rate;
  }

  /**
   * Converts one block. The result is a view of an internal buffer, valid until the next call:
   * copy it if you keep it. Throws RangeError for a rate or channel count it cannot handle.
   */
  process(block: PcmBlock): Float32Array {
    const { samples, sampleRate, channelCount } = block;
    if (!Number.isInteger(channelCount) || channelCount < 1) throw new RangeError(`bad channelCount ${channelCount}`);
    if (sampleRate !== this.rate) this.start(sampleRate);
    const design = this.design as Design;
    const frames = Math.floor(samples.length / channelCount);

    if (design.taps === 1 && design.up === 1 && design.down === 1) {
      this.reserveOut(frames);
      downmix(samples, channelCount, frames, this.out, 0);
      return this.result(frames);
    }

    const { up, down, taps, coeffs } = design;
    if (this.buf.length < this.fill + frames) {
      const grown = new Float64Array(this.fill + frames);
      grown.set(this.buf.subarray(0, this.fill));
      this.buf = grown;
    }
    downmix(samples, channelCount, frames, this.buf, this.fill);
    this.fill += frames;

    this.reserveOut(Math.ceil((frames * up) / down) + 1);
    const buf = this.buf;
    const out = this.out;
    let n = 0;
    let pos = this.pos;
    let phase = this.phase;
    const fill = this.fill;
    while (pos < fill) {
      // coeffs are stored oldest-sample-first so both arrays are walked forwards.
      let c = phase * taps;
      const cEnd = c + taps;
      let x = pos - taps + 1;
      let acc = 0;
      while (c < cEnd) acc += (coeffs[c++] as number) * (buf[x++] as number);
      out[n++] = acc;
      phase += down;
      const advance = Math.floor(phase / up);
      pos += advance;
      phase -= advance * up;
    }
    // Keep only the history the next outputs reach back into.
    const shift = this.fill - (taps - 1);
    buf.copyWithin(0, shift, this.fill);
    this.fill = taps - 1;
    this.pos = pos - shift;
    this.phase = phase;
    return this.result(n);
  }

  /** Forgets the filter history; the next block starts from silence. */
  reset(): void {
    if (this.rate !== 0) this.start(this.rate);
  }

  private start(sampleRate: number): void {
    this.design = designFor(sampleRate, this.outputRate, this.transitionHz, this.stopbandDb);
    this.rate = sampleRate;
    const history = this.design.taps - 1;
    if (this.buf.length < history) this.buf = new Float64Array(history + 960);
    this.buf.fill(0, 0, history);
    this.fill = history;
    this.pos = history;
    this.phase = 0;
  }

  private reserveOut(n: number): void {
    if (this.out.length < n) this.out = new Float32Array(n);
  }

  /** Reuses the previous view when the size repeats, as it does for steady 10 ms blocks. */
  private result(n: number): Float32Array {
    if (this.view.buffer !== this.out.buffer || this.view.length !== n) this.view = this.out.subarray(0, n);
    return this.view;
  }
}

function downmix(samples: Int16Array, channels: number, frames: number, into: Float32Array | Float64Array, at: number): void {
  if (channels === 1) {
    for (let i = 0; i < frames; i++) into[at + i] = (samples[i] as number) / 32768;
  } else if (channels === 2) {
    for (let i = 0; i < frames; i++) into[at + i] = ((samples[2 * i] as number) + (samples[2 * i + 1] as number)) / 65536;
  } else {
    const scale = 1 / (32768 * channels);
    for (let i = 0, j = 0; i < frames; i++) {
      let sum = 0;
      for (let c = 0; c < channels; c++) sum += samples[j++] as number;
      into[at + i] = sum * scale;
    }
  }
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function designFor(inRate: number, outRate: number, transitionHz: number, stopbandDb: number): Design {
  if (!Number.isInteger(inRate) || inRate < 1000 || inRate > 384000) throw new RangeError(`unsupported sample rate ${inRate}`);
  const key = `${inRate}:${outRate}:${transitionHz}:${stopbandDb}`;
  const cached = designs.get(key);
  if (cached) {
    designs.delete(key);
    designs.set(key, cached);
    return cached;
  }
  const g = gcd(inRate, outRate);
  const up = outRate / g;
  const down = inRate / g;
  if (up > MAX_UP) throw new RangeError(`unsupported sample rate ${inRate}: ${outRate}/${inRate} does not reduce to a small ratio`);
  let design: Design;
  if (up === 1 && down === 1) {
    design = { up, down, taps: 1, coeffs: Float64Array.of(1) };
  } else {
    // Kaiser's estimates for length and window shape; the roll-off ends at the lower Nyquist.
    const nyquist = Math.min(inRate, outRate) / 2;
    const width = Math.min(transitionHz, nyquist / 2);
    const cutoff = nyquist - width / 2;
    const taps = Math.max(2, Math.ceil(((stopbandDb - 7.95) * inRate) / (2.285 * 2 * Math.PI * width)));
    const beta =
      stopbandDb > 50 ? 0.1102 * (stopbandDb - 8.7) : stopbandDb >= 21 ? 0.5842 * (stopbandDb - 21) ** 0.4 + 0.07886 * (stopbandDb - 21) : 0;
    const length = taps * up;
    const centre = (length - 1) / 2;
    const fc = cutoff / (inRate * up); // cycles per sample at the interpolated rate
    const i0Beta = besselI0(beta);
    const coeffs = new Float64Array(length);
    for (let phase = 0; phase < up; phase++) {
      let sum = 0;
      for (let k = 0; k < taps; k++) {
        const j = phase + k * up;
        const t = j - centre;
        const r = t / centre;
        const window = besselI0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / i0Beta;
        const h = t === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * t) / (Math.PI * t);
        coeffs[phase * taps + (taps - 1 - k)] = h * window;
        sum += h * window;
      }
      // Unit DC gain per phase, so no phase-dependent ripple on steady signals.
      for (let k = 0; k < taps; k++) coeffs[phase * taps + k] = (coeffs[phase * taps + k] as number) / sum;
    }
    design = { up, down, taps, coeffs };
  }
  designs.set(key, design);
  for (const k of designs.keys()) {
    if (designs.size <= MAX_DESIGNS) break;
    designs.delete(k);
  }
  return design;
}

function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 50; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-12) break;
  }
  return sum;
}
