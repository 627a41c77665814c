/**
 * A call taken from a worker and given back to it (it stalled, then recovered with no other worker
 * live): the hand-back the server sent on assignment arrives while the worker is still leaving
 * the call, and is forgotten with the old session. The server therefore hands the raised states
 * back again when the call's worker joins it (AnalyzerHub.analyzerJoined,
 * test/unit/analyzerHub.test.ts); here, that this second hand-back resumes the ALERT on the
 * analyzer's side. The call session, its socket and wrtc are faked: what is under test is the
 * watcher's and the subjects' bookkeeping.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';

const sessions: FakeSession[] = [];
class FakeSession extends EventEmitter {
  room: string;
  leaveDone!: () => void;
  constructor(opts: { room: string }) { super(); this.room = opts.room; sessions.push(this); }
  start() { return Promise.resolve(); }
  // CallSession.leave awaits the server's ack of 'leave' before it ends (CallSession.ts:523-527).
  leave() { return new Promise<void>((r) => { this.leaveDone = () => { this.emit('state', 'ended'); r(); }; }); }
}
vi.mock('../../../server/src/protocol/CallSession.ts', () => ({ CallSession: FakeSession }));
vi.mock('socket.io-client', () => ({ io: () => ({}) }));
vi.mock('../../../server/src/headless/wrtc.ts', () => ({ WrtcPeerConnection: class {}, nonstandard: {} }));
vi.mock('../../../server/src/headless/HeadlessParticipant.ts', () => ({ onAudioData: () => () => {}, onVideoFrames: () => () => {} }));

const { CallWatcher } = await import('../../../server/src/analyzer/CallWatcher.ts');
const { Subjects } = await import('../../../server/src/analyzer/subjects.ts');
const { RiskPublisher } = await import('../../../server/src/analyzer/RiskPublisher.ts');
const { loadRiskConfig } = await import('../../../server/src/analyzer/fusion/RiskFusion.ts');
const { Metrics } = await import('../../../server/src/metrics/Metrics.ts');

describe('a call that comes back to the same worker', () => {
  /** The stall, the give-back and the rejoin; returns the participant's state on the rejoined session. */
  async function comeBack(stateFromOldSession: boolean): Promise<string> {
    vi.useFakeTimers();
    const first = sessions.length;
    const subjects = new Subjects(loadRiskConfig());
    const events = new EventEmitter();
    // As Analyzer.ts:86.
    events.on('left', (room: string) => subjects.forget(room));
    const watcher = new CallWatcher({ config: { serverUrl: 'http://x', token: 't' } as never, metrics: new Metrics(), events: events as never, subjects, onSample: () => {} });
    const publisher = new RiskPublisher({ watcher, subjects, events: events as never, control: () => undefined });
    const alert = () => [{ participantId: 'p1', state: 'ALERT' as const, risk: 0.9, since: Date.now() - 60_000, raisedBy: ['face-deepfake'] }];

    watcher.follow(['r1']);
    sessions[first]!.emit('state', 'joined');
    sessions[first]!.emit('participants', [{ id: 'p1', role: 'patient', video: true }]);
    if (stateFromOldSession) subjects.get('r1', 'p1');
    // The worker stalled: the server sent rooms [] ... then, its heartbeats back and no other worker
    // live, resume (the ALERT the RiskDesk kept) and rooms [r1], in that order (AnalyzerHub.apply).
    watcher.follow([]);
    subjects.resume('r1', alert());
    watcher.follow(['r1']);
    // The old session's leave is acked; the publisher ticks; the watcher rejoins after its pause.
    sessions[first]!.leaveDone();
    await Promise.resolve();
    publisher.publish();
    vi.advanceTimersByTime(2500);
    // The server hands the states back again as the worker joins (before its join is answered).
    subjects.resume('r1', alert());
    sessions.at(-1)!.emit('state', 'joined');
    sessions.at(-1)!.emit('participants', [{ id: 'p1', role: 'patient', video: true }]);
    const state = subjects.get('r1', 'p1').fusion.state;
    vi.useRealTimers();
    return state;
  }

  it('resumes the ALERT the server hands back again when the worker rejoins (its state from the old session still there)', async () => {
    expect(await comeBack(true)).toBe('ALERT');
  });

  it('resumes the ALERT the server hands back again when the worker rejoins (no state yet)', async () => {
    expect(await comeBack(false)).toBe('ALERT');
  });
});
