import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '../core/jsonrpc.js';

/** How long requests wait for the backend's GET stream after `notifications/initialized`. */
export const GET_STREAM_WAIT_MS = 2_000;

/*
 * The SDK's Streamable HTTP client opens its GET stream only once the server has accepted
 * `notifications/initialized`, and does not wait for it: the next request can reach the server
 * first. A server that sends a server→client request (sampling, elicitation) unrelated to any
 * POST sends it on that GET stream, and one that is not open yet loses it (the SDK's server
 * drops it). So after `initialized`, this gate holds what the gateway sends next until the GET's
 * response has arrived: the stream is open, or the server said no (405, an error), or the
 * request failed. It waits at most GET_STREAM_WAIT_MS, and not at all when no GET was started.
 */
export class GetStreamGate {
  private pending: Promise<void> | undefined;
  private release: (() => void) | undefined;
  private getStarted = false;

  constructor(private readonly waitMs = GET_STREAM_WAIT_MS) {}

  /** A fetch for the SDK transport that opens the gate when a GET's response (or failure) is in. */
  wrap(base: FetchLike = fetch): FetchLike {
    return async (url, init) => {
      if (init?.method !== 'GET') return base(url, init);
      this.getStarted = true;
      try {
        return await base(url, init);
      } finally {
        this.open();
      }
    };
  }

  /**
   * Sends `message` with `send`, after the gate has opened. Sending `notifications/initialized`
   * closes the gate until the GET stream that follows it is up.
   */
  async send(message: JSONRPCMessage, send: () => Promise<void>): Promise<void> {
    if (this.pending) await this.pending;
    if (!('method' in message) || message.method !== 'notifications/initialized' || 'id' in message)
      return send();
    this.close();
    try {
      await send();
    } catch (error) {
      this.open();
      throw error;
    }
    // The SDK starts the GET within a few microtasks of a 202; none started means none will.
    setImmediate(() => {
      if (!this.getStarted) this.open();
    });
  }

  private close(): void {
    this.getStarted = false;
    this.pending = new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.open(), this.waitMs);
      timer.unref();
      this.release = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private open(): void {
    const release = this.release;
    this.pending = undefined;
    this.release = undefined;
    release?.();
  }
}
