/**
 * State changes for screen readers, throttled: risk can move every second or two while a caller
 * settles, and a screen reader reading every move drowns the call. Per participant, a change is
 * said at once if nothing was said about them for `gapMs`; otherwise the latest state is said when
 * the gap has passed (states visited in between are skipped), and nothing is said if it is back to
 * what was last said. ALERT is said at once, always (the toast also announces it).
 */
export interface AnnouncerOptions {
  /** Least time between two announcements about one participant (default 8 s). */
  gapMs?: number;
  now?: () => number;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (h: unknown) => void;
}

export class Announcer {
  private readonly said = new Map<string, { state: string; at: number }>();
  private readonly waiting = new Map<string, { state: string; text: string; timer: unknown }>();
  private readonly gapMs: number;
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (h: unknown) => void;
  private readonly say: (text: string) => void;

  constructor(say: (text: string) => void, o: AnnouncerOptions = {}) {
    this.say = say;
    this.gapMs = o.gapMs ?? 8000;
    this.now = o.now ?? Date.now;
    this.setTimer = o.setTimeout ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = o.clearTimeout ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>));
  }

  /** The participant's state now (call on every update; unchanged states are ignored). */
  update(key: string, state: string, text: string): void {
    const last = this.said.get(key);
    const wait = this.waiting.get(key);
    if (wait) {
      if (wait.state === state) return;
      this.clearTimer(wait.timer);
      this.waiting.delete(key);
    }
    if (last?.state === state) return;
    const since = last ? this.now() - last.at : Infinity;
    if (state === 'ALERT' || since >= this.gapMs) {
      this.emit(key, state, text);
      return;
    }
    const timer = this.setTimer(() => {
      this.waiting.delete(key);
      this.emit(key, state, text);
    }, this.gapMs - since);
    this.waiting.set(key, { state, text, timer });
  }

  /** Forget a participant who left. */
  forget(key: string): void {
    const wait = this.waiting.get(key);
    if (wait) this.clearTimer(wait.timer);
    this.waiting.delete(key);
    this.said.delete(key);
  }

  /** Forget everyone not in `present` (people who left): their pending announcement is never said. */
  retain(present: Iterable<string>): void {
    const keep = new Set(present);
    for (const key of new Set([...this.said.keys(), ...this.waiting.keys()])) if (!keep.has(key)) this.forget(key);
  }

  dispose(): void {
    for (const w of this.waiting.values()) this.clearTimer(w.timer);
    this.waiting.clear();
  }

  private emit(key: string, state: string, text: string): void {
    this.said.set(key, { state, at: this.now() });
    this.say(text);
  }
}
