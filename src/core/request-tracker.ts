import type { JSONRPCReply, ProgressToken } from './jsonrpc.js';

interface Entry<T> {
  readonly item: T;
  readonly token: ProgressToken | undefined;
}

/**
 * Correlates the requests sent over one connection with their replies. Each request gets an id of
 * the tracker's own, so the peer never sees (and can never confuse) the ids of whoever asked; its
 * progress token is remembered, so progress finds its request; and an entry is taken exactly
 * once, by its reply, its cancellation or the connection's end. Every place that forwards
 * requests keeps its table here: a link to a backend, a session's requests to its client, a
 * shared process's requests from many sessions. `T` is what the caller needs back: a waiter, or
 * where to route the reply.
 */
export class RequestTracker<T> {
  private nextId = 1;
  private readonly entries = new Map<number, Entry<T>>();
  private readonly tokens = new Map<ProgressToken, number>();

  get size(): number {
    return this.entries.size;
  }

  /** Records a request about to be sent; send it under the id returned. */
  open(item: T, token?: ProgressToken): number {
    const id = this.nextId++;
    this.entries.set(id, { item, token });
    if (token !== undefined) this.tokens.set(token, id);
    return id;
  }

  /** Takes the entry a reply answers; undefined when nothing waits for it (late, or unasked). */
  settle(reply: JSONRPCReply): T | undefined {
    return typeof reply.id === 'number' ? this.take(reply.id) : undefined;
  }

  /** Takes the entry for `id`: it is answered, cancelled or abandoned. */
  take(id: number): T | undefined {
    const entry = this.entries.get(id);
    if (entry === undefined) return undefined;
    this.entries.delete(id);
    if (entry.token !== undefined && this.tokens.get(entry.token) === id)
      this.tokens.delete(entry.token);
    return entry.item;
  }

  get(id: number): T | undefined {
    return this.entries.get(id)?.item;
  }

  /** The id of the request a progress token belongs to. */
  idOfToken(token: ProgressToken): number | undefined {
    return this.tokens.get(token);
  }

  /** The id of the first request for which `match` holds. */
  find(match: (item: T) => boolean): number | undefined {
    for (const [id, entry] of this.entries) if (match(entry.item)) return id;
    return undefined;
  }

  /** Every request in flight, as [id, item]. */
  *[Symbol.iterator](): IterableIterator<[number, T]> {
    for (const [id, entry] of this.entries) yield [id, entry.item];
  }

  /** Takes every entry (the connection went). */
  takeAll(): T[] {
    const items = [...this.entries.values()].map((e) => e.item);
    this.entries.clear();
    this.tokens.clear();
    return items;
  }
}
