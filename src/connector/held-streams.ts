/*
 * Requests whose Streamable HTTP response stream broke while the remote may still hold the
 * session: instead of a definite error at once, they wait (as long as the queue lets a request
 * wait) for the link to come back to the same remote under the same session, where their
 * streams are resumed with Last-Event-ID and the remote sends what was missed, the reply
 * included. A request is held only if its stream had given an event id: without one there is
 * nothing to resume from.
 */

export interface Resumable {
  /** The last SSE event id seen on the request's response stream. */
  resumeToken?: string;
  /** Sent again with Last-Event-ID and not yet heard from since. */
  resumed?: boolean;
}

export class HeldStreams<T extends Resumable> {
  private held = new Map<number, T>();
  private timer: NodeJS.Timeout | undefined;
  /** The session the held streams belong to, and the remote (its index in the list) that has it. */
  sessionId: string | undefined;
  target = -1;

  get pending(): boolean {
    return this.held.size > 0;
  }

  /**
   * Holds `entries` (by remote id) for `sessionId` on `target`; after `waitMs` without a
   * resumption they go to `expire`.
   */
  hold(
    sessionId: string,
    target: number,
    entries: Map<number, T>,
    waitMs: number,
    expire: (entries: T[]) => void,
  ): void {
    this.release(expire);
    this.sessionId = sessionId;
    this.target = target;
    this.held = entries;
    this.timer = setTimeout(() => this.release(expire), waitMs);
    this.timer.unref();
  }

  /** The held entries, for resumption; none are held after this. */
  take(): Map<number, T> {
    clearTimeout(this.timer);
    const held = this.held;
    this.held = new Map();
    this.sessionId = undefined;
    this.target = -1;
    return held;
  }

  /** Gives every held entry to `expire` (their streams cannot be resumed). */
  release(expire: (entries: T[]) => void): void {
    const entries = [...this.take().values()];
    if (entries.length > 0) expire(entries);
  }
}
