/** The risk timeline's data: points in time order, marks deduplicated, seeded from a case record, and the columns uPlot draws. */
import { describe, expect, it } from 'vitest';
import type { CaseRecord } from '../../../server/src/protocol/caseRecord.ts';
import { addMark, addPoint, describeTimeline, EMPTY_TIMELINE, MAX_POINTS, mergeTimelines, plotColumns, timelinesFromRecord } from '../../../client/src/lib/timeline.ts';

const T = Date.UTC(2026, 0, 1, 12, 0, 0);

describe('risk timeline', () => {
  it('keeps points in time order, ignores repeats, and caps its length', () => {
    let t = addPoint(EMPTY_TIMELINE, { at: T + 2000, risk: 0.5, state: 'SUSPICIOUS' });
    t = addPoint(t, { at: T, risk: 0.1, state: 'CLEAR' });
    const same = addPoint(t, { at: T + 2000, risk: 0.5, state: 'SUSPICIOUS' });
    expect(same).toBe(t);
    expect(t.points.map((p) => p.at)).toEqual([T, T + 2000]);
    for (let i = 0; i < MAX_POINTS + 10; i++) t = addPoint(t, { at: T + 10_000 + i, risk: 0.2, state: 'CLEAR' });
    expect(t.points).toHaveLength(MAX_POINTS);
    expect(t.points[0]!.at).toBe(T + 10_000 + 10);
  });

  it('keeps one mark per kind per second', () => {
    let t = addMark(EMPTY_TIMELINE, { at: T, kind: 'alert', label: 'Alert' });
    expect(addMark(t, { at: T + 500, kind: 'alert', label: 'Alert' })).toBe(t);
    t = addMark(t, { at: T + 500, kind: 'check', label: 'Liveness check: passed' });
    expect(t.marks.map((m) => m.kind)).toEqual(['alert', 'check']);
  });

  it('starts from a case record: states with their risk, alerts, checks and degraded analysis', () => {
    const record = {
      states: [{ participantId: 'pat', name: 'Pat', changes: [
        { at: T, state: 'CLEAR', risk: 0.1, reasons: [] },
        { at: T + 5000, state: 'DEGRADED', risk: 0.1, reasons: [] },
        { at: T + 9000, state: 'ALERT', risk: 0.9, reasons: [] },
      ] }],
      alerts: [{ id: 'a', participantId: 'pat', participantName: 'Pat', risk: 0.9, reasons: [], at: T + 9000, views: [] }],
      checks: [{ id: 'c', participantId: 'pat', participantName: 'Pat', requestedBy: 'Dr', result: 'FAILED', reasons: [], steps: [], startedAt: T + 10_000, endedAt: T + 20_000 }],
    } as unknown as CaseRecord;
    const t = timelinesFromRecord(record).pat!;
    expect(t.points.map((p) => p.state)).toEqual(['CLEAR', 'DEGRADED', 'ALERT']);
    expect(t.marks.map((m) => [m.kind, m.at - T])).toEqual([['degraded', 5000], ['alert', 9000], ['check', 20_000]]);
    // The live part adds to it without repeating what the record had.
    const live = addPoint(EMPTY_TIMELINE, { at: T + 9000, risk: 0.9, state: 'ALERT' });
    expect(mergeTimelines(t, addPoint(live, { at: T + 30_000, risk: 0.2, state: 'CLEAR' })).points).toHaveLength(4);
  });

  it('gives uPlot aligned columns: the risk carried to each mark and to now, marks only where they are', () => {
    let t = addPoint(EMPTY_TIMELINE, { at: T, risk: 0.1, state: 'CLEAR' });
    t = addPoint(t, { at: T + 4000, risk: 0.9, state: 'ALERT' });
    t = addMark(t, { at: T + 6000, kind: 'alert', label: 'Alert' });
    const c = plotColumns(t, T + 10_000)!;
    expect(c.x).toEqual([T / 1000, T / 1000 + 4, T / 1000 + 6, T / 1000 + 10]);
    expect(c.risk).toEqual([0.1, 0.9, 0.9, 0.9]);
    expect(c.marks[0]).toEqual([null, null, expect.any(Number), null]);
    expect(c.marks.slice(1).flat().every((v) => v === null)).toBe(true);
    expect(plotColumns(EMPTY_TIMELINE, T)).toBeUndefined();
    expect(describeTimeline(t, T + 120_000, (s) => s.toLowerCase())).toBe('Over 2 min: now alert, risk score 90 of 100 (highest 90); 1 alert.');
  });
});
