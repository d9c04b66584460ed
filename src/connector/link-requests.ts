import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCReply, JSONRPCRequest, RequestId } from '../core/jsonrpc.js';
import { channels } from '../core/diagnostics.js';

/*
 * Two kinds of requests on the connector's link besides the client's: its own (the restore
 * handshake, the ping that checks a session is still there), and the remote's requests to the
 * client (sampling, elicitation, roots), which the client sees under ids of the connector's.
 */

/** `promise`, or a rejection naming `what` once `ms` pass. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The connector's own requests, by the remote id they were sent under. */
export class OwnRequests {
  private readonly waiting = new Map<number, (reply: JSONRPCReply | Error) => void>();

  /** Sends a request under `id` and resolves with its reply (an error reply included). */
  ask(
    link: Transport,
    id: number,
    method: string,
    params: Record<string, unknown> | undefined,
    timeoutMs: number,
  ): Promise<JSONRPCReply> {
    const answer = new Promise<JSONRPCReply>((resolve, reject) => {
      this.waiting.set(id, (reply) => (reply instanceof Error ? reject(reply) : resolve(reply)));
    });
    link
      .send({ jsonrpc: '2.0', id, method, ...(params && { params }) })
      .catch((error: unknown) => this.waiting.get(id)?.(error as Error));
    return withTimeout(answer, timeoutMs, method).finally(() => this.waiting.delete(id));
  }

  /** Hands a reply to the request of ours it answers; false when it answers none. */
  answer(reply: JSONRPCReply): boolean {
    const waiting = typeof reply.id === 'number' ? this.waiting.get(reply.id) : undefined;
    if (!waiting) return false;
    this.waiting.delete(reply.id as number);
    waiting(reply);
    return true;
  }

  /** The link is gone: every request of ours fails. */
  failAll(): void {
    for (const answer of this.waiting.values()) answer(new Error('the link was lost'));
    this.waiting.clear();
  }
}

/** The remote's requests to the client, by the id the client sees; each knows its link (epoch). */
export class ServerRequests {
  private next = 1;
  private readonly byClientId = new Map<number, { epoch: number; remoteId: RequestId }>();

  /** The id the client is to see for the remote's request `remoteId`. */
  add(epoch: number, remoteId: RequestId): number {
    const id = this.next++;
    this.byClientId.set(id, { epoch, remoteId });
    return id;
  }

  /** The request the client's reply `id` answers, forgotten from now on. */
  take(id: RequestId | undefined): { epoch: number; remoteId: RequestId } | undefined {
    if (typeof id !== 'number') return undefined;
    const entry = this.byClientId.get(id);
    this.byClientId.delete(id);
    return entry;
  }

  /** The client's id for the remote's request `remoteId` on link `epoch`, which it cancelled. */
  cancel(epoch: number, remoteId: RequestId): number | undefined {
    for (const [id, entry] of this.byClientId) {
      if (entry.epoch !== epoch || entry.remoteId !== remoteId) continue;
      this.byClientId.delete(id);
      return id;
    }
    return undefined;
  }
}

/** When each client request reached the connector, published with its outcome once answered. */
export class RequestClock {
  private readonly arrivals = new WeakMap<JSONRPCRequest, number>();

  arrived(request: JSONRPCRequest): void {
    this.arrivals.set(request, performance.now());
  }

  /** Publishes the request's latency, from its arrival to its reply (diagnostics channel). */
  answered(request: JSONRPCRequest, outcome: string): void {
    const arrived = this.arrivals.get(request);
    this.arrivals.delete(request);
    if (arrived === undefined || !channels.connectorRequest.hasSubscribers) return;
    channels.connectorRequest.publish({
      method: request.method,
      durationMs: performance.now() - arrived,
      outcome,
    });
  }
}
