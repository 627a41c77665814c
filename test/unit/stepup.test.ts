/**
 * Step-up by policy without a server: which room type starts a liveness check on its own, when,
 * and how often (no re-trigger loops), from the joins and risk updates the server sees; and the
 * ROOM_TYPES setting.
 */
import { describe, expect, it } from 'vitest';
import { faceSeen, parseRoomTypes, roomTypeOf, StepUpPolicy, type RoomType, type StartOutcome } from '../../server/src/screening/StepUp.ts';
import { ConfigError, loadConfig } from '../../server/src/config.ts';
import type { RiskState, RiskUpdate } from '../../server/src/protocol/messages.ts';

const face = { detector: 'face-deepfake', text: 'The face looks real.', contribution: 0.1 };
const voice = { detector: 'synthetic-voice', text: 'The voice sounds natural.', contribution: 0.1 };

function update(state: RiskState, reasons = [face], participantId = 'pat'): RiskUpdate {
  return { participantId, state, risk: state === 'CLEAR' ? 0.1 : 0.6, reasons, gaps: [], since: 0, at: 0 };
}

function harness(types: Record<string, RoomType>, opts: { cooldownMs?: number; maxPerCaller?: number; refuse?: StartOutcome } = {}) {
  let t = 0;
  const started: Array<{ room: string; participantId: string; trigger: string; type: RoomType }> = [];
  let running = false;
  const policy = new StepUpPolicy({
    typeOf: (room) => types[room] ?? 'off',
    now: () => t,
    cooldownMs: opts.cooldownMs ?? 60_000,
    maxPerCaller: opts.maxPerCaller ?? 3,
    start: (room, participantId, trigger, type) => {
      if (opts.refuse) return opts.refuse;
      if (running) return { started: false, running: true, reason: 'a check is running' };
      started.push({ room, participantId, trigger, type });
      return { started: true };
    },
  });
  return {
    policy,
    started,
    advance: (ms: number) => (t += ms),
    setRunning: (r: boolean) => (running = r),
  };
}

describe('step-up policy', () => {
  it('a KYC room starts a check at join, once the face is seen, and only once', () => {
    const h = harness({ bank: 'kyc' });
    h.policy.joined('bank', 'pat');
    // The analyzer is still warming up, or only the voice has been judged: no face yet, no check.
    h.policy.risk('bank', update('ANALYZING', []));
    h.policy.risk('bank', update('CLEAR', [voice]));
    expect(h.started).toEqual([]);
    h.policy.risk('bank', update('CLEAR'));
    expect(h.started).toEqual([{ room: 'bank', participantId: 'pat', trigger: 'join', type: 'kyc' }]);
    h.policy.risk('bank', update('CLEAR'));
    h.policy.risk('bank', update('SUSPICIOUS'));
    expect(h.started).toHaveLength(1);
  });

  it('a telehealth room does not check at join, only on SUSPICIOUS, once per suspicion', () => {
    const h = harness({ clinic: 'telehealth' });
    h.policy.joined('clinic', 'pat');
    for (let i = 0; i < 5; i++) h.policy.risk('clinic', update('CLEAR'));
    h.policy.risk('clinic', update('INSUFFICIENT_SIGNAL', []));
    expect(h.started).toEqual([]);
    h.policy.risk('clinic', update('SUSPICIOUS'));
    expect(h.started).toEqual([{ room: 'clinic', participantId: 'pat', trigger: 'suspicious', type: 'telehealth' }]);
    // A FAILED check keeps the caller SUSPICIOUS or ALERT: that must not start another.
    h.advance(600_000);
    for (const s of ['SUSPICIOUS', 'ALERT', 'SUSPICIOUS'] as const) h.policy.risk('clinic', update(s));
    expect(h.started).toHaveLength(1);
  });

  it('a disabled room never checks on its own', () => {
    const h = harness({ quiet: 'off' });
    h.policy.joined('quiet', 'pat');
    for (const s of ['CLEAR', 'SUSPICIOUS', 'ALERT', 'CLEAR', 'ALERT'] as const) {
      h.advance(600_000);
      h.policy.risk('quiet', update(s));
    }
    expect(h.started).toEqual([]);
  });

  it('a support room checks on ALERT, not on SUSPICIOUS', () => {
    const h = harness({ desk: 'support' });
    h.policy.joined('desk', 'pat');
    h.policy.risk('desk', update('SUSPICIOUS'));
    expect(h.started).toEqual([]);
    h.policy.risk('desk', update('ALERT'));
    expect(h.started).toMatchObject([{ trigger: 'alert', type: 'support' }]);
  });

  it('rate limits: a cooldown between automatic checks, a cap per caller that rejoining does not reset', () => {
    const h = harness({ clinic: 'telehealth', bank: 'kyc' }, { cooldownMs: 60_000, maxPerCaller: 2 });
    const flap = () => {
      h.policy.risk('clinic', update('CLEAR'));
      h.policy.risk('clinic', update('SUSPICIOUS'));
    };
    h.policy.joined('clinic', 'pat');
    flap();
    expect(h.started).toHaveLength(1);
    // Suspicion drops and returns within the cooldown: no second check yet...
    h.advance(30_000);
    flap();
    expect(h.started).toHaveLength(1);
    // ...but the same suspicion, still on once the cooldown has passed, gets one.
    h.advance(31_000);
    h.policy.risk('clinic', update('SUSPICIOUS'));
    expect(h.started).toHaveLength(2);
    h.advance(600_000);
    flap();
    expect(h.started).toHaveLength(2);

    // KYC: a caller rejoining is checked again at join, within the same limits.
    h.policy.joined('bank', 'cus');
    h.policy.risk('bank', update('CLEAR', [face], 'cus'));
    h.policy.left('bank', 'cus');
    h.policy.joined('bank', 'cus');
    h.policy.risk('bank', update('CLEAR', [face], 'cus'));
    expect(h.started.filter((s) => s.room === 'bank')).toHaveLength(1);
    h.advance(60_000);
    h.policy.risk('bank', update('CLEAR', [face], 'cus'));
    expect(h.started.filter((s) => s.room === 'bank')).toHaveLength(2);
    // A new call in the room starts afresh.
    h.policy.closed('bank');
    h.policy.joined('bank', 'cus');
    h.advance(60_000);
    h.policy.risk('bank', update('CLEAR', [face], 'cus'));
    expect(h.started.filter((s) => s.room === 'bank')).toHaveLength(3);
  });

  it('a check already running (started by hand) serves the trigger; a refused start is tried again later', () => {
    const h = harness({ clinic: 'telehealth' });
    h.policy.joined('clinic', 'pat');
    h.setRunning(true);
    h.policy.risk('clinic', update('SUSPICIOUS'));
    h.setRunning(false);
    h.policy.risk('clinic', update('SUSPICIOUS'));
    expect(h.started).toEqual([]);

    const down = harness({ bank: 'kyc' }, { refuse: { started: false, running: false, reason: 'The check needs the analyzer' } });
    down.policy.joined('bank', 'pat');
    down.policy.risk('bank', update('CLEAR'));
    expect(down.started).toEqual([]);
  });

  it('face seen: any face cue counts, voice and capture reports do not', () => {
    expect(faceSeen(update('CLEAR', [voice, { detector: 'client-integrity', text: '', contribution: 0 }]))).toBe(false);
    expect(faceSeen(update('CLEAR', [voice, { detector: 'blend-contour', text: '', contribution: 0.2 }]))).toBe(true);
  });
});

describe('room types setting', () => {
  it('maps rooms by exact id or prefix, first match first, others to the default', () => {
    const rules = parseRoomTypes(' kyc-*=kyc, ward-3 = telehealth,ward-*=support ,quiet=off');
    expect(roomTypeOf('kyc-42', rules, 'telehealth')).toBe('kyc');
    expect(roomTypeOf('ward-3', rules, 'off')).toBe('telehealth');
    expect(roomTypeOf('ward-4', rules, 'off')).toBe('support');
    expect(roomTypeOf('quiet', rules, 'kyc')).toBe('off');
    expect(roomTypeOf('demo', rules, 'kyc')).toBe('kyc');
    expect(parseRoomTypes('')).toEqual([]);
  });

  it('defaults to telehealth everywhere, and refuses bad settings naming the variable', () => {
    const dir = `/tmp/dfs-stepup-config-${process.pid}`;
    const c = loadConfig({ DATA_DIR: dir, TOKEN_SECRET: 'x'.repeat(40) });
    expect(c.stepUp).toEqual({ rules: [], defaultType: 'telehealth', cooldownMs: 120_000, maxPerCaller: 3 });
    expect(loadConfig({ DATA_DIR: dir, TOKEN_SECRET: 'x'.repeat(40), ROOM_TYPES: 'kyc-*=kyc', ROOM_TYPE_DEFAULT: 'off', STEP_UP_COOLDOWN_S: '30' }).stepUp).toMatchObject({
      rules: [{ pattern: 'kyc-*', type: 'kyc' }],
      defaultType: 'off',
      cooldownMs: 30_000,
    });
    for (const [env, msg] of [
      [{ ROOM_TYPES: 'kyc-*=bank' }, /ROOM_TYPES: "kyc-\*=bank": the type must be one of/],
      [{ ROOM_TYPES: 'kyc' }, /ROOM_TYPES: "kyc" is not ROOM=TYPE/],
      [{ ROOM_TYPES: '*x=kyc' }, /may only end a pattern/],
      [{ ROOM_TYPE_DEFAULT: 'bank' }, /ROOM_TYPE_DEFAULT/],
      [{ STEP_UP_COOLDOWN_S: '1' }, /STEP_UP_COOLDOWN_S/],
    ] as const) {
      expect(() => loadConfig({ DATA_DIR: dir, TOKEN_SECRET: 'x'.repeat(40), ...env })).toThrow(ConfigError);
      expect(() => loadConfig({ DATA_DIR: dir, TOKEN_SECRET: 'x'.repeat(40), ...env })).toThrow(msg);
    }
  });
});
