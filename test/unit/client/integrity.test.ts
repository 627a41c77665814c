/** Stream integrity report: virtual camera names and settings inconsistencies, on plain objects. */
import { describe, expect, it } from 'vitest';
import { IntegrityReportSchema } from '../../../server/src/protocol/messages.ts';
import {
  analyseCapture,
  cleanLabel,
  describeFlag,
  INTEGRITY_FLAGS,
  matchVirtualCamera,
  MAX_LABEL_LENGTH,
  type CaptureFacts,
} from '../../../client/src/lib/integrity.ts';

describe('matchVirtualCamera', () => {
  it.each([
    ['OBS Virtual Camera', 'OBS Virtual Camera'],
    ['obs-camera', 'OBS Virtual Camera'],
    ['ManyCam Virtual Webcam', 'ManyCam'],
    ['DroidCam Source 3', 'DroidCam'],
    ['XSplit VCam', 'XSplit VCam'],
    ['Snap Camera', 'Snap Camera'],
    ['e2eSoft VCam', 'e2eSoft VCam'],
    ['e2eSoft iVCam', 'iVCam'],
    ['CyberLink YouCam 10', 'CyberLink YouCam'],
    ['Logi Capture', 'Logi Capture'],
    ['Camera (NVIDIA Broadcast)', 'NVIDIA Broadcast'],
    ['mmhmm', 'mmhmm'],
    ['Camo', 'Reincubate Camo'],
    ['Reincubate Camo', 'Reincubate Camo'],
    ['EpocCam', 'EpocCam'],
    ['CamTwist (2VUY)', 'CamTwist'],
    ['SplitCam Video Driver', 'SplitCam'],
    ['Elgato Virtual Camera', 'Elgato Virtual Camera'],
    ['fake_device_0', 'Fake camera'],
    ['Fake Video Capture', 'Fake camera'],
    ['Some Virtual Webcam', 'Virtual camera'],
    ['Dummy video device (0x0000)', 'v4l2loopback'],
  ])('%s → %s', (label, name) => {
    expect(matchVirtualCamera(label)).toBe(name);
    expect(matchVirtualCamera(label.toUpperCase())).toBe(name); // case-insensitive
  });

  it.each([
    'FaceTime HD Camera (Built-in)',
    'Integrated Camera (04f2:b6dd)',
    'Logitech BRIO (046d:085e)',
    'HD Pro Webcam C920',
    'USB2.0 HD UVC WebCam',
    'Microsoft® LifeCam HD-3000',
    'Camcorder',
    'Front Camera',
    '',
  ])('a real camera is not flagged: %s', (label) => {
    expect(matchVirtualCamera(label)).toBeNull();
  });
});

describe('cleanLabel', () => {
  it('bounds the length and strips control characters', () => {
    expect(cleanLabel('x'.repeat(500))).toHaveLength(MAX_LABEL_LENGTH);
    expect(cleanLabel('OBS\u0000 Virtual\n\tCamera ')).toBe('OBS Virtual Camera');
    expect(cleanLabel(42)).toBe('');
  });
});

/** A well-behaved real webcam, as Chrome reports it. */
function realCamera(over: Partial<CaptureFacts> = {}): CaptureFacts {
  return {
    label: 'HD Pro Webcam C920 (046d:082d)',
    settings: { width: 640, height: 480, frameRate: 30, aspectRatio: 4 / 3, deviceId: 'dev-1', groupId: 'grp-1' },
    capabilities: { width: { min: 1, max: 1920 }, height: { min: 1, max: 1080 }, frameRate: { min: 1, max: 30 } },
    supported: { deviceId: true, groupId: true },
    devices: [
      { deviceId: 'dev-1', label: 'HD Pro Webcam C920 (046d:082d)' },
      { deviceId: 'dev-2', label: 'FaceTime HD Camera' },
    ],
    delivered: { width: 640, height: 480 },
    ...over,
  };
}

describe('analyseCapture', () => {
  it('a consistent real camera has no flags', () => {
    const r = analyseCapture(realCamera());
    expect(r).toEqual({
      cameraLabel: 'HD Pro Webcam C920 (046d:082d)',
      virtualCamera: null,
      flags: [],
      settings: { width: 640, height: 480, frameRate: 30, deviceId: true, groupId: true },
    });
  });

  it("names the virtual camera in use, including Chromium's fake device", () => {
    const obs = analyseCapture(realCamera({ label: 'OBS Virtual Camera', devices: [{ deviceId: 'dev-1', label: 'OBS Virtual Camera' }] }));
    expect(obs.virtualCamera).toBe('OBS Virtual Camera');
    expect(obs.flags).toEqual(['virtual-camera']);
    const fake = analyseCapture(realCamera({ label: 'fake_device_0', devices: [{ deviceId: 'dev-1', label: 'fake_device_0' }] }));
    expect(fake.virtualCamera).toBe('Fake camera');
    expect(fake.flags).toContain('virtual-camera');
  });

  it('notes an installed virtual camera that is not in use', () => {
    const r = analyseCapture(realCamera({ devices: [...realCamera().devices!, { deviceId: 'dev-3', label: 'ManyCam Virtual Webcam' }] }));
    expect(r.virtualCamera).toBeNull();
    expect(r.flags).toEqual(['virtual-camera-installed']);
  });

  it('flags a synthetic track: no label, no ids, not listed, no capabilities', () => {
    const r = analyseCapture({
      label: '',
      settings: { width: 640, height: 480, frameRate: 30 },
      capabilities: {},
      supported: { deviceId: true, groupId: true },
      devices: realCamera().devices,
      delivered: { width: 640, height: 480 },
    });
    expect(r.flags).toEqual(expect.arrayContaining(['no-label', 'no-device-id', 'no-group-id', 'device-not-listed', 'no-capabilities']));
    expect(r.settings).toEqual({ width: 640, height: 480, frameRate: 30, deviceId: false, groupId: false });
  });

  it('flags a generated track that Chromium labels with its own device id', () => {
    const id = '17xZ6rIh+/o9lQWXKBSAmaDtJ2yrNaKRpgw9YZCm9AA9q+GqIRRokPyZCbLL0Y0psrcFFO6Hfn2JyU2Sv9RkqA==';
    const r = analyseCapture(realCamera({ label: id, settings: { ...realCamera().settings, deviceId: id, groupId: undefined } }));
    expect(r.flags).toEqual(['synthetic-track', 'no-group-id', 'device-not-listed']);
  });

  it('does not blame missing ids on browsers that do not support them, nor unlabeled device lists', () => {
    const r = analyseCapture(
      realCamera({
        settings: { width: 640, height: 480, frameRate: 30 },
        supported: { deviceId: true, groupId: false },
        devices: [{ deviceId: '', label: '' }],
      }),
    );
    expect(r.flags).toEqual(['no-device-id']);
  });

  it('flags odd frame rates but not whole or NTSC ones', () => {
    const rate = (frameRate: number) => analyseCapture(realCamera({ settings: { ...realCamera().settings, frameRate }, capabilities: undefined })).flags;
    expect(rate(30)).toEqual([]);
    expect(rate(29.97)).toEqual([]);
    expect(rate(59.94)).toEqual([]);
    expect(rate(30.000030517578125)).toEqual([]);
    expect(rate(27.3)).toEqual(['odd-frame-rate']);
    expect(rate(0)).toEqual(['odd-frame-rate']);
    expect(rate(1000)).toEqual(['odd-frame-rate']);
  });

  it('flags settings outside the capabilities', () => {
    const base = realCamera();
    const big = { ...base.settings, width: 3840, height: 2160, aspectRatio: 16 / 9 };
    expect(analyseCapture({ ...base, settings: big, delivered: { width: 3840, height: 2160 } }).flags).toEqual(['outside-capabilities']);
    expect(analyseCapture({ ...base, settings: { ...base.settings, frameRate: 60 } }).flags).toEqual(['outside-capabilities']);
  });

  it('flags an aspect ratio that does not match width and height', () => {
    const base = realCamera();
    expect(analyseCapture({ ...base, settings: { ...base.settings, aspectRatio: 16 / 9 } }).flags).toEqual(['aspect-mismatch']);
  });

  it('flags delivered frames of another size, but not a rotated phone, and no frames at all', () => {
    expect(analyseCapture(realCamera({ delivered: { width: 1280, height: 720 } })).flags).toEqual(['size-mismatch']);
    expect(analyseCapture(realCamera({ delivered: { width: 480, height: 640 } })).flags).toEqual([]);
    expect(analyseCapture(realCamera({ delivered: null })).flags).toEqual(['no-frames']);
    expect(analyseCapture(realCamera({ delivered: undefined })).flags).toEqual([]);
  });

  it('leaves out settings the protocol would refuse', () => {
    const r = analyseCapture(realCamera({ settings: { width: 100000, height: -1, frameRate: 5000, deviceId: 'dev-1', groupId: 'grp-1' }, capabilities: undefined, delivered: undefined }));
    expect(r.settings).toEqual({ deviceId: true, groupId: true });
    expect(r.flags).toEqual(['odd-frame-rate']);
  });

  it('always produces what the protocol accepts', () => {
    const cases: CaptureFacts[] = [
      realCamera(),
      realCamera({ label: 'OBS Virtual Camera ' + '\u0007x'.repeat(300) }),
      realCamera({ settings: { width: 1e9, frameRate: Number.NaN }, capabilities: {}, devices: [], delivered: null }),
      { label: '', settings: {} },
    ];
    for (const facts of cases) expect(IntegrityReportSchema.safeParse(analyseCapture(facts)).success).toBe(true);
  });

  it('keeps the label bounded and every flag has text', () => {
    const r = analyseCapture(realCamera({ label: 'OBS Virtual Camera ' + 'x'.repeat(400) }));
    expect(r.cameraLabel.length).toBeLessThanOrEqual(MAX_LABEL_LENGTH);
    expect(r.virtualCamera).toBe('OBS Virtual Camera');
    for (const code of Object.keys(INTEGRITY_FLAGS)) expect(describeFlag(code)).not.toBe(code);
    expect(describeFlag('something-new')).toBe('something-new');
  });
});
