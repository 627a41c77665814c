export interface BoundedQueueOptions<T> {
  /** Called with each item evicted by a push into a full queue or by clear(), e.g. to recycle its buffer. */
  onDrop?: (item: T) => void;
}

/**
 * Fixed-capacity FIFO on a preallocated ring. Pushing into a full queue evicts the oldest item:
 * for live media the newest sample is the most useful one, and a slow consumer must never make
 * the producer (a WebRTC callback) wait or memory grow.
 *
 * Invariant: pushed === taken + dropped + length.
 */
export class BoundedQueue<T> {
  readonly capacity: number;
  private readonly items: (T | undefined)[];
  private readonly onDrop: ((item: T) => void) | undefined;
  private head = 0;
  private size = 0;
  private pushedCount = 0;
  private droppedCount = 0;
  private takenCount = 0;

  constructor(capacity: number, options: BoundedQueueOptions<T> = {}) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.items = new Array<T | undefined>(capacity).fill(undefined);
    this.onDrop = options.onDrop;
  }

  get length(): number {
    return this.size;
  }
  get pushed(): number {
    return this.pushedCount;
  }
  get dropped(): number {
    return this.droppedCount;
  }
  get taken(): number {
    return this.takenCount;
  }

  /** Appends an item; returns true when the oldest item had to be dropped to make room. */
  push(item: T): boolean {
    this.pushedCount++;
    if (this.size < this.capacity) {
      this.items[(this.head + this.size) % this.capacity] = item;
      this.size++;
      return false;
    }
    const evicted = this.items[this.head] as T;
    this.items[this.head] = item;
    this.head = (this.head + 1) % this.capacity;
    this.droppedCount++;
    this.onDrop?.(evicted);
    return true;
  }

  /** Removes and returns the oldest item, or undefined when empty. */
  take(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined; // let the consumer own it alone
    this.head = (this.head + 1) % this.capacity;
    this.size--;
    this.takenCount++;
    return item;
  }

  /** The oldest item without removing it. */
  peek(): T | undefined {
    return this.size === 0 ? undefined : this.items[this.head];
  }

  /** Drops every queued item (counted as dropped, passed to onDrop). */
  clear(): void {
    while (this.size > 0) {
      const item = this.items[this.head] as T;
      this.items[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
      this.size--;
      this.droppedCount++;
      this.onDrop?.(item);
    }
  }
}
