import type { TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { ClientTransport } from '../session/session.js';
import type {
  JSONRPCMessage,
  JSONRPCNotification,
  JSONRPCReply,
  JSONRPCRequest,
  RequestId,
} from '../core/jsonrpc.js';
import { errorReply, isNotification, isRequest } from '../core/jsonrpc.js';
import { GatewayError } from '../core/errors.js';

/** Who holds a pooled session now: what the session sends of its own goes to them. */
export interface Lessee {
  notification(message: JSONRPCNotification): void;
  /** A server's request to the client (sampling, elicitation, roots), under the session's id. */
  serverRequest(message: JSONRPCRequest): void;
  /** The session ended while leased. */
  ended?(): void;
}

/** How long a server's request that came with nobody to ask waits for the next lessee. */
const UNATTRIBUTED_HOLD_MS = 5000;

/**
 * The client side of a session the bridge keeps for modern clients: the bridge itself plays the
 * legacy client, sending requests into a real gateway session (every policy applies) and getting
 * replies back by id. What else the session sends goes to the current lessee. A server's request
 * that arrives while nobody holds the session (a server asking for roots right after
 * `initialized`, say) waits for the next lessee, briefly, and is refused after that.
 */
export class PoolClientTransport implements ClientTransport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  /** Told once when the session closed this transport. */
  onended?: (reason: string) => void;

  private readonly waiting = new Map<RequestId, (reply: JSONRPCReply) => void>();
  private held: { request: JSONRPCRequest; timer: NodeJS.Timeout }[] = [];
  private lessee: Lessee | undefined;
  private nextId = 1;
  private closed = false;
  private endReason = 'closed';

  get isClosed(): boolean {
    return this.closed;
  }

  /** Held while leased, so the idle sweep leaves a busy session alone and ends an idle one. */
  get streamOpen(): boolean {
    return this.lessee !== undefined;
  }

  async start(): Promise<void> {}

  /** Hands the session to `lessee` (or back to nobody), with the server's requests held for it. */
  lease(lessee: Lessee | undefined): void {
    this.lessee = lessee;
    if (lessee === undefined) return;
    const held = this.held;
    this.held = [];
    for (const { request, timer } of held) {
      clearTimeout(timer);
      lessee.serverRequest(request);
    }
  }

  /** Sends a request into the session; resolves with its reply. */
  request(
    method: string,
    params: Record<string, unknown> | undefined,
  ): {
    id: RequestId;
    reply: Promise<JSONRPCReply>;
  } {
    const id = `m${this.nextId++}`;
    if (this.closed) {
      return {
        id,
        reply: Promise.reject(new GatewayError('GATEWAY_SESSION_CLOSED', this.endReason)),
      };
    }
    const reply = new Promise<JSONRPCReply>((resolve) => this.waiting.set(id, resolve));
    this.deliver({ jsonrpc: '2.0', id, method, ...(params !== undefined && { params }) });
    return { id, reply };
  }

  notify(method: string, params?: Record<string, unknown>): void {
    if (!this.closed) this.deliver({ jsonrpc: '2.0', method, ...(params && { params }) });
  }

  /** Answers a server's request (by the id the session gave it). */
  answer(
    id: RequestId,
    answer: { result: unknown } | { error: { code: number; message: string } },
  ): void {
    if (this.closed) return;
    this.deliver(
      'result' in answer
        ? ({ jsonrpc: '2.0', id, result: answer.result } as JSONRPCMessage)
        : errorReply(id, answer.error.code, answer.error.message),
    );
  }

  // ── the session's side ─────────────────────────────────────────────────────────────────

  async send(message: JSONRPCMessage, _options?: TransportSendOptions): Promise<void> {
    if (this.closed) return;
    if (isRequest(message)) {
      if (this.lessee) this.lessee.serverRequest(message);
      else this.hold(message);
      return;
    }
    if (isNotification(message)) {
      this.lessee?.notification(message);
      return;
    }
    const id = (message as { id?: RequestId }).id;
    if (id === undefined || id === null) return;
    const resolve = this.waiting.get(id);
    if (!resolve) return;
    this.waiting.delete(id);
    resolve(message as JSONRPCReply);
  }

  requestEnded(id: RequestId): void {
    const resolve = this.waiting.get(id);
    if (!resolve) return;
    this.waiting.delete(id);
    resolve(errorReply(id, -32800, 'the request was cancelled'));
  }

  ending(end: { reason: string }): void {
    this.endReason = end.reason;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const ended = errorReply(null, -32603, `the pooled session ended: ${this.endReason}`);
    for (const [id, resolve] of this.waiting) resolve({ ...ended, id } as JSONRPCReply);
    this.waiting.clear();
    for (const { timer } of this.held) clearTimeout(timer);
    this.held = [];
    this.lessee?.ended?.();
    this.onended?.(this.endReason);
    this.onclose?.();
  }

  private hold(request: JSONRPCRequest): void {
    const timer = setTimeout(() => {
      this.held = this.held.filter((h) => h.request !== request);
      this.answer(request.id, {
        error: { code: -32603, message: 'no request was in flight to carry this request' },
      });
    }, UNATTRIBUTED_HOLD_MS);
    timer.unref();
    this.held.push({ request, timer });
  }

  private deliver(message: JSONRPCMessage): void {
    try {
      this.onmessage?.(message);
    } catch (error) {
      this.onerror?.(error as Error);
    }
  }
}
