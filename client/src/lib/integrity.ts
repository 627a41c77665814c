/**
 * Stream integrity report: advisory evidence about the local camera capture, collected right after
 * getUserMedia. It names known virtual cameras (by the active track's label and by the installed
 * devices' labels) and flags inconsistencies between what the track claims and what it delivers.
 * The server treats it as advisory only: a tampered client can send anything.
 */

import { describeFlag, INTEGRITY_FLAGS, matchVirtualCamera, type IntegrityFlag } from '../../../server/src/protocol/integrity.ts';

export { describeFlag, INTEGRITY_FLAGS, matchVirtualCamera, type IntegrityFlag };

export const MAX_LABEL_LENGTH = 128;
export const MAX_FLAGS = 12;
const MAX_DIMENSION = 16384;
const MAX_FRAME_RATE = 1000;


export interface IntegrityReport {
  /** The active camera's label, trimmed to MAX_LABEL_LENGTH characters. */
  cameraLabel: string;
  /** The known virtual or fake camera in use, by name, or null. */
  virtualCamera: string | null;
  /** Machine codes (IntegrityFlag), at most MAX_FLAGS; see INTEGRITY_FLAGS for the text. */
  flags: IntegrityFlag[];
  settings: { width?: number; height?: number; frameRate?: number; deviceId?: boolean; groupId?: boolean };
}

/** A label fit to send: control characters removed, whitespace collapsed, at most MAX_LABEL_LENGTH characters. */
export function cleanLabel(label: unknown): string {
  if (typeof label !== 'string') return '';
  const clean = label.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').replace(/\s+/g, ' ').trim();
  return Array.from(clean).slice(0, MAX_LABEL_LENGTH).join('');
}

interface Range {
  min?: number;
  max?: number;
}

/** What the checks read; plain objects, so they can be tested without a browser. */
export interface CaptureFacts {
  label: string;
  settings: { width?: number; height?: number; frameRate?: number; aspectRatio?: number; deviceId?: string; groupId?: string };
  /** track.getCapabilities(), or undefined where the browser has none. */
  capabilities?: { width?: Range; height?: Range; frameRate?: Range } | undefined;
  /** navigator.mediaDevices.getSupportedConstraints(), where available. */
  supported?: { deviceId?: boolean; groupId?: boolean } | undefined;
  /** enumerateDevices() video inputs; labels are empty before camera permission. */
  devices?: readonly { deviceId: string; label: string }[] | undefined;
  /** The size of the delivered video frames; null if none arrived; undefined if not measured. */
  delivered?: { width: number; height: number } | null | undefined;
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Whether a frame rate is a whole number or an NTSC-style n × 1000/1001 rate (29.97, 59.94, …). */
function usualFrameRate(fps: number): boolean {
  if (fps <= 0 || fps > 240) return false;
  if (Math.abs(fps - Math.round(fps)) < 0.01) return true;
  const ntsc = Math.round((fps * 1001) / 1000);
  return Math.abs(fps - (ntsc * 1000) / 1001) < 0.01;
}

function outside(value: number | undefined, range: Range | undefined, slack = 0): boolean {
  if (!isNum(value) || !range) return false;
  return (isNum(range.min) && value < range.min - slack) || (isNum(range.max) && value > range.max + slack);
}

/** The pure part of the report: names and flags from collected facts. */
export function analyseCapture(facts: CaptureFacts): IntegrityReport {
  const flags = new Set<IntegrityFlag>();
  const label = cleanLabel(facts.label);
  const s = facts.settings;

  const virtualCamera = matchVirtualCamera(label);
  if (virtualCamera) flags.add('virtual-camera');
  if (!label) flags.add('no-label');
  // Chromium labels canvas/WebAudio-style generated tracks with their random id; cameras have names.
  else if (s.deviceId && label === s.deviceId) flags.add('synthetic-track');

  const cameras = facts.devices ?? [];
  if (cameras.some((d) => d.label !== label && matchVirtualCamera(d.label))) flags.add('virtual-camera-installed');

  const supportsDeviceId = facts.supported?.deviceId ?? true;
  const supportsGroupId = facts.supported?.groupId ?? true;
  if (supportsDeviceId && !s.deviceId) flags.add('no-device-id');
  if (supportsGroupId && !s.groupId) flags.add('no-group-id');
  // Only meaningful once the list has labels (after permission) and ids.
  if (cameras.length > 0 && cameras.some((d) => d.label)) {
    const listed = s.deviceId ? cameras.some((d) => d.deviceId === s.deviceId) : cameras.some((d) => d.label === label);
    if (!listed) flags.add('device-not-listed');
  }

  if (isNum(s.frameRate) && !usualFrameRate(s.frameRate)) flags.add('odd-frame-rate');

  const caps = facts.capabilities;
  if (caps) {
    if (!caps.width && !caps.height && !caps.frameRate) flags.add('no-capabilities');
    else if (outside(s.width, caps.width) || outside(s.height, caps.height) || outside(s.frameRate, caps.frameRate, 0.5)) {
      flags.add('outside-capabilities');
    }
  }

  if (isNum(s.aspectRatio) && isNum(s.width) && isNum(s.height) && s.height > 0) {
    if (Math.abs(s.aspectRatio - s.width / s.height) > 0.01 * s.aspectRatio) flags.add('aspect-mismatch');
  }

  if (facts.delivered === null) flags.add('no-frames');
  else if (facts.delivered && isNum(s.width) && isNum(s.height)) {
    const { width, height } = facts.delivered;
    const same = width === s.width && height === s.height;
    const rotated = width === s.height && height === s.width; // phones in portrait
    if (!same && !rotated) flags.add('size-mismatch');
  }

  // Values outside what the protocol accepts (server/src/protocol/messages.ts) are left out, not sent.
  const settings: IntegrityReport['settings'] = { deviceId: Boolean(s.deviceId), groupId: Boolean(s.groupId) };
  const within = (v: unknown, max: number): v is number => isNum(v) && v >= 0 && v <= max;
  if (within(s.width, MAX_DIMENSION)) settings.width = Math.round(s.width);
  if (within(s.height, MAX_DIMENSION)) settings.height = Math.round(s.height);
  if (within(s.frameRate, MAX_FRAME_RATE)) settings.frameRate = Math.round(s.frameRate * 1000) / 1000;
  return { cameraLabel: label, virtualCamera, flags: [...flags].slice(0, MAX_FLAGS), settings };
}


/** Waits for the first frame of a track and reads its size; null if none arrives in time. */
async function deliveredSize(stream: MediaStream, expected: { width?: number; height?: number }, timeoutMs: number): Promise<{ width: number; height: number } | null> {
  const video = document.createElement('video');
  video.muted = true;
  video.playsInline = true;
  video.srcObject = stream;
  const read = () => (video.videoWidth > 0 && video.videoHeight > 0 ? { width: video.videoWidth, height: video.videoHeight } : null);
  const waitFor = (ms: number, done: () => boolean) =>
    new Promise<void>((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        video.removeEventListener('resize', check);
        video.removeEventListener('loadedmetadata', check);
        resolve();
      };
      const check = () => {
        if (done()) finish();
      };
      const timer = setTimeout(finish, ms);
      video.addEventListener('resize', check);
      video.addEventListener('loadedmetadata', check);
      check();
    });
  try {
    video.play().catch(() => undefined);
    await waitFor(timeoutMs, () => read() !== null);
    const first = read();
    if (!first) return null;
    const matches = (sz: { width: number; height: number }) =>
      (sz.width === expected.width && sz.height === expected.height) || (sz.width === expected.height && sz.height === expected.width);
    // Cameras may start at another size and switch at once: give them a moment before judging.
    if (!matches(first)) await waitFor(1000, () => matches(read() ?? first));
    return read();
  } finally {
    video.pause();
    video.srcObject = null;
  }
}

/**
 * Collects the report for the stream's first video track (call right after getUserMedia).
 * Never throws; browser APIs that are missing are skipped.
 */
export async function collectIntegrityReport(stream: MediaStream, opts: { frameTimeoutMs?: number } = {}): Promise<IntegrityReport> {
  const track = stream.getVideoTracks()[0];
  if (!track) return { cameraLabel: '', virtualCamera: null, flags: ['no-video-track'], settings: {} };
  const settings = track.getSettings();
  let capabilities: CaptureFacts['capabilities'];
  try {
    capabilities = typeof track.getCapabilities === 'function' ? track.getCapabilities() : undefined;
  } catch {
    capabilities = undefined;
  }
  let supported: CaptureFacts['supported'];
  let devices: CaptureFacts['devices'];
  try {
    supported = navigator.mediaDevices?.getSupportedConstraints?.();
    const all = (await navigator.mediaDevices?.enumerateDevices?.()) ?? [];
    devices = all.filter((d) => d.kind === 'videoinput').map((d) => ({ deviceId: d.deviceId, label: cleanLabel(d.label) }));
  } catch {
    devices = undefined;
  }
  let delivered: CaptureFacts['delivered'];
  try {
    delivered = track.readyState === 'live' && track.enabled ? await deliveredSize(new MediaStream([track]), settings, opts.frameTimeoutMs ?? 3000) : undefined;
  } catch {
    delivered = undefined;
  }
  return analyseCapture({ label: track.label, settings, capabilities, supported, devices, delivered });
}
