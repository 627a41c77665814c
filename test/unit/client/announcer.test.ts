/** Screen-reader announcements of state changes: said, but not every flicker. */
import { describe, expect, it } from 'vitest';
import { Announcer } from '../../../client/src/lib/announcer.ts';
import { FakeClock } from '../../helpers/fakeClock.ts';

/** An announcer on a clock that moves only when told, and what it said. */
function rig() {
  const clock = new FakeClock();
  const said: string[] = [];
  const a = new Announcer((t) => said.push(t), { gapMs: 8000, now: () => clock.now(), setTimeout: (fn, ms) => clock.setTimeout(fn, ms), clearTimeout: (h) => clock.clearTimeout(h) });
  return { clock, said, a };
}

describe('announcer', () => {
  it('never says a waiting change of someone who has left', () => {
    const { clock, said, a } = rig();
    a.update('pat', 'ANALYZING', 'Pat: Analysing');
    a.update('sam', 'ANALYZING', 'Sam: Analysing');
    clock.advance(1000);
    a.update('pat', 'CLEAR', 'Pat: Looks real');
    a.update('sam', 'CLEAR', 'Sam: Looks real');
    a.retain(['sam']); // Pat left
    clock.advance(8000);
    expect(said).toEqual(['Pat: Analysing', 'Sam: Analysing', 'Sam: Looks real']);
    // Pat back later is announced afresh, at once.
    a.update('pat', 'CLEAR', 'Pat: Looks real');
    expect(said.at(-1)).toBe('Pat: Looks real');
  });

  it('says the first state at once, then at most one change per gap, the latest one', () => {
    const { clock, said, a } = rig();
    a.update('pat', 'ANALYZING', 'Pat: Analysing');
    a.update('pat', 'ANALYZING', 'Pat: Analysing');
    expect(said).toEqual(['Pat: Analysing']);
    clock.advance(1000);
    a.update('pat', 'CLEAR', 'Pat: Looks real');
    a.update('pat', 'INSUFFICIENT_SIGNAL', 'Pat: Cannot judge');
    clock.advance(3000);
    a.update('pat', 'CLEAR', 'Pat: Looks real');
    expect(said).toHaveLength(1);
    clock.advance(4000);
    expect(said).toEqual(['Pat: Analysing', 'Pat: Looks real']);
    // Flickering away and back within the gap says nothing.
    clock.advance(1000);
    a.update('pat', 'SUSPICIOUS', 'Pat: Suspicious');
    a.update('pat', 'CLEAR', 'Pat: Looks real');
    clock.advance(20_000);
    expect(said).toHaveLength(2);
  });

  it('says ALERT at once, whatever was said just before; participants are throttled apart', () => {
    const { clock, said, a } = rig();
    a.update('pat', 'CLEAR', 'Pat: Looks real');
    a.update('sam', 'CLEAR', 'Sam: Looks real');
    clock.advance(500);
    a.update('pat', 'ALERT', 'Pat: Alert');
    expect(said).toEqual(['Pat: Looks real', 'Sam: Looks real', 'Pat: Alert']);
    a.forget('sam');
    a.dispose();
  });
});
