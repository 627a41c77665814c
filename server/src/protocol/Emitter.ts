/** A typed event emitter that runs in browsers and Node alike (the client session uses it in both). */
export class Emitter<Events extends Record<string, unknown[]>> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private readonly listeners = new Map<keyof Events, Set<(...args: any[]) => void>>();

  on<E extends keyof Events>(event: E, fn: (...args: Events[E]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  once<E extends keyof Events>(event: E, fn: (...args: Events[E]) => void): () => void {
    const off = this.on(event, (...args) => {
      off();
      fn(...args);
    });
    return off;
  }

  protected emit<E extends keyof Events>(event: E, ...args: Events[E]): void {
    for (const fn of [...(this.listeners.get(event) ?? [])]) {
      try {
        (fn as (...a: Events[E]) => void)(...args);
      } catch (err) {
        console.error(`listener for "${String(event)}" failed`, err);
      }
    }
  }
}
