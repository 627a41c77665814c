/** The call UI shows no verdict it no longer has, and no toast gap while an alert still waits. */
import { describe, expect, it } from 'vitest';
import { keepPresent, toastAfterAck } from '../../../client/src/lib/callRisk.ts';

describe('call UI risk bookkeeping', () => {
  it('a caller who left loses their verdict: back in the call they read ANALYZING, not the CLEAR from before', () => {
    const risk = { pat: { state: 'CLEAR' }, pat2: { state: 'ALERT' } };
    const left = keepPresent(risk, [{ id: 'pat2' }]);
    expect(left).toEqual({ pat2: { state: 'ALERT' } });
    // Back again, no update yet: what the badge shows is `risk[id]?.state ?? 'ANALYZING'`.
    const back = keepPresent(left, [{ id: 'pat' }, { id: 'pat2' }]);
    expect(back.pat?.state ?? 'ANALYZING').toBe('ANALYZING');
    // Nobody left: the same object (no needless re-render).
    expect(keepPresent(risk, [{ id: 'pat' }, { id: 'pat2' }])).toBe(risk);
  });

  it('acknowledging the alert on the toast brings up the newest one still unacknowledged (a rejoining clinician is replayed an older one)', () => {
    const a1 = { id: 'a1', at: 1000 };
    const a2 = { id: 'a2', at: 2000, ackedBy: 'Dr' };
    expect(toastAfterAck(a2, [a2, a1], 'a2')).toBe(a1);
    expect(toastAfterAck(a1, [a2, { ...a1, ackedBy: 'Dr' }], 'a1')).toBeUndefined();
    // Another alert acknowledged: the toast stays.
    expect(toastAfterAck(a1, [a2, a1], 'a2')).toBe(a1);
  });
});
