export interface WaitQueueOptions {
  /** Most items waiting at once; one more is refused. @default 100 */
  maxSize?: number;
  /** Longest an item may wait before it expires. @default 60_000 */
  maxWaitMs?: number;
}

interface Waiting<T> {
  item: T;
  timer: NodeJS.Timeout;
}

/**
 * Messages waiting for the link to come back, in order, bounded in number and in time. An item
 * that waits too long in all (however often it was sent and put back) is handed to `onExpire`
 * and forgotten.
 */
export class WaitQueue<T extends object> {
  private items: Waiting<T>[] = [];
  /** When each item first waited: one sent again after a break keeps its first deadline. */
  private readonly firstWaited = new WeakMap<T, number>();
  readonly maxSize: number;
  readonly maxWaitMs: number;

  constructor(
    options: WaitQueueOptions,
    private readonly onExpire: (item: T) => void,
  ) {
    this.maxSize = options.maxSize ?? 100;
    this.maxWaitMs = options.maxWaitMs ?? 60_000;
  }

  get size(): number {
    return this.items.length;
  }

  /** Adds `item` at the back; false (and nothing added) when the queue is full. */
  push(item: T): boolean {
    if (this.items.length >= this.maxSize) return false;
    this.items.push(this.wait(item));
    return true;
  }

  /**
   * Puts items back at the front, in the order given, whatever the size: they were accepted
   * before (requests in flight when the link broke, to be sent again).
   */
  requeue(items: readonly T[]): void {
    this.items.unshift(...items.map((item) => this.wait(item)));
  }

  /** Removes the first item `match` accepts; returns it. */
  remove(match: (item: T) => boolean): T | undefined {
    const index = this.items.findIndex((w) => match(w.item));
    if (index === -1) return undefined;
    const [removed] = this.items.splice(index, 1);
    clearTimeout(removed!.timer);
    return removed!.item;
  }

  /** Empties the queue, returning what waited, oldest first. */
  drain(): T[] {
    const items = this.items;
    this.items = [];
    for (const w of items) clearTimeout(w.timer);
    return items.map((w) => w.item);
  }

  private wait(item: T): Waiting<T> {
    const now = Date.now();
    const since = this.firstWaited.get(item) ?? now;
    this.firstWaited.set(item, since);
    const waiting: Waiting<T> = {
      item,
      timer: setTimeout(
        () => {
          const index = this.items.indexOf(waiting);
          if (index === -1) return;
          this.items.splice(index, 1);
          this.onExpire(item);
        },
        Math.max(0, since + this.maxWaitMs - now),
      ),
    };
    waiting.timer.unref();
    return waiting;
  }
}
