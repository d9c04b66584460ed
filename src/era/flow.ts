import type {
  JSONRPCNotification,
  JSONRPCReply,
  JSONRPCRequest,
  RequestId,
} from '../core/jsonrpc.js';
import type { Lessee } from './pool-client.js';
import type { PooledSession } from './pool.js';
import { INPUT_KEY_META, INPUT_REQUEST_CAPABILITY } from './modern.js';

/** Where a flow's notifications go: the modern request now open (the first, or a retry). */
export interface FlowSink {
  notify(message: JSONRPCNotification): void;
}

/** What a flow waits for next: the call's reply, or a round of the server's requests. */
export type FlowStep =
  | { kind: 'reply'; reply: JSONRPCReply }
  | { kind: 'input'; requests: Record<string, { method: string; params?: unknown }> };

/** How long server requests arriving together are gathered into one round. */
const ROUND_GATHER_MS = 10;

/**
 * One modern call on a borrowed legacy session, across its `input_required` rounds. The legacy
 * server's requests to the client are held open (not answered) and handed out as a round; the
 * retry's `inputResponses` answer them, and the same backend call goes on. Notifications go to
 * whichever modern request of the flow is open: progress under that request's token, log
 * messages only when it asked for them (`_meta.logLevel`).
 */
export class Flow implements Lessee {
  /** The round number the last `requestState` was sealed for; a retry must name it. */
  round = 0;
  /** The continuation's id once the flow has been parked for a retry. */
  continuationId: string | undefined;
  /** Parked between rounds (no modern request open), with the expiry timer. */
  parkedTimer: NodeJS.Timeout | undefined;
  /** The backend request's id in the pooled session, for cancellation. */
  readonly requestId: RequestId;
  private sink: FlowSink | undefined;
  private progressToken: string | number | undefined;
  private logs = false;
  /** The round being gathered or handed out: key → the session's id of the server's request. */
  private pending = new Map<string, RequestId>();
  private gathered: Record<string, { method: string; params?: unknown }> = {};
  private gatherTimer: NodeJS.Timeout | undefined;
  private counter = 0;
  private wake: ((step: FlowStep) => void) | undefined;
  private finished: JSONRPCReply | undefined;

  constructor(
    readonly session: PooledSession,
    /** The client capabilities the modern request declared. */
    private readonly capabilities: Record<string, unknown>,
    message: { method: string; params: Record<string, unknown> | undefined },
  ) {
    session.client.lease(this);
    const { id, reply } = session.client.request(message.method, message.params);
    this.requestId = id;
    void reply.then((r) => this.done(r));
  }

  /** The modern request now open: where notifications go, and under which progress token. */
  attach(sink: FlowSink | undefined, progressToken: unknown, logs: boolean): void {
    this.sink = sink;
    this.progressToken =
      typeof progressToken === 'string' || typeof progressToken === 'number'
        ? progressToken
        : undefined;
    this.logs = logs;
  }

  /** Server requests handed out and not answered yet. */
  get unanswered(): number {
    return this.pending.size;
  }

  get isFinished(): boolean {
    return this.finished !== undefined;
  }

  /** Waits for the reply, or for the next round of server requests. */
  next(): Promise<FlowStep> {
    // A round gathered goes out first, even when the call has ended meanwhile: a server request
    // that rode on this call (one sent with no call in flight) still wants its answer.
    if (Object.keys(this.gathered).length > 0) {
      if (this.gatherTimer === undefined) return Promise.resolve(this.takeRound());
    } else if (this.finished) {
      return Promise.resolve({ kind: 'reply', reply: this.finished });
    }
    return new Promise<FlowStep>((resolve) => (this.wake = resolve));
  }

  /**
   * Answers the round handed out: each key with the client's response, or with an error when
   * the client gave none. Returns the keys that had no response.
   */
  answer(responses: Record<string, unknown> | undefined): string[] {
    const missing: string[] = [];
    for (const [key, id] of this.pending) {
      const response = responses?.[key];
      if (response !== undefined && typeof response === 'object' && response !== null) {
        this.session.client.answer(id, { result: response });
      } else {
        missing.push(key);
        this.session.client.answer(id, {
          error: { code: -32603, message: 'client supplied no response' },
        });
      }
    }
    this.pending.clear();
    return missing;
  }

  /** Ends whatever the server still waits for (the client went away or never came back). */
  refuse(reason: string): void {
    for (const id of this.pending.values())
      this.session.client.answer(id, { error: { code: -32603, message: reason } });
    this.pending.clear();
    for (const key of Object.keys(this.gathered)) delete this.gathered[key];
  }

  /** Cancels the backend call itself. */
  cancel(reason: string): void {
    this.refuse(reason);
    this.session.client.notify('notifications/cancelled', { requestId: this.requestId, reason });
  }

  // ── Lessee: what the borrowed session sends ─────────────────────────────────────────────

  notification(message: JSONRPCNotification): void {
    const { method } = message;
    if (method === 'notifications/progress') {
      if (!this.sink) return;
      const params = { ...message.params };
      if (this.progressToken === undefined) return;
      params.progressToken = this.progressToken;
      this.sink.notify({ ...message, params });
      return;
    }
    if (method === 'notifications/message') {
      if (this.logs) this.sink?.notify(message);
      return;
    }
    if (method === 'notifications/cancelled') {
      // The server gave up on one of its requests: it leaves the round.
      const id = message.params?.requestId as RequestId | undefined;
      for (const [key, pendingId] of this.pending) if (pendingId === id) this.pending.delete(key);
    }
    // List changes and resource updates reach modern clients through subscriptions/listen.
  }

  serverRequest(message: JSONRPCRequest): void {
    const capability = INPUT_REQUEST_CAPABILITY[message.method];
    if (capability === undefined || this.capabilities[capability] === undefined) {
      // The client did not declare it: it must never see it.
      this.session.client.answer(message.id, {
        error: {
          code: -32601,
          message: `the client did not declare the ${capability ?? message.method} capability`,
        },
      });
      return;
    }
    if (this.finished) {
      this.session.client.answer(message.id, {
        error: { code: -32603, message: 'the request it belonged to has ended' },
      });
      return;
    }
    // A request that stands for a backend's own input request keeps that request's key.
    const { key: named, params } = takeInputKey(message.params);
    let key = named ?? `${capability}-${++this.counter}`;
    if (this.pending.has(key)) key = `${key}-${++this.counter}`;
    this.pending.set(key, message.id);
    this.gathered[key] = { method: message.method, ...(params !== undefined && { params }) };
    if (this.gatherTimer === undefined) {
      this.gatherTimer = setTimeout(() => {
        this.gatherTimer = undefined;
        if (this.wake) this.step(this.takeRound());
      }, ROUND_GATHER_MS);
    }
  }

  // ── inside ─────────────────────────────────────────────────────────────────────────────

  private takeRound(): FlowStep {
    const requests = this.gathered;
    this.gathered = {};
    return { kind: 'input', requests };
  }

  private done(reply: JSONRPCReply): void {
    this.finished = reply;
    // With a round being gathered, that round goes first (its timer wakes the waiter); with
    // one handed out, the reply waits for the retry that answers it.
    if (Object.keys(this.gathered).length === 0 && this.pending.size === 0)
      this.step({ kind: 'reply', reply });
  }

  private step(step: FlowStep): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.(step);
  }
}

/** The bridge-private input key of a server request's params, and the params without it. */
function takeInputKey(params: Record<string, unknown> | undefined): {
  key: string | undefined;
  params: Record<string, unknown> | undefined;
} {
  const meta = params?._meta as Record<string, unknown> | undefined;
  const key = meta?.[INPUT_KEY_META];
  if (typeof key !== 'string') return { key: undefined, params };
  const rest = { ...meta };
  delete rest[INPUT_KEY_META];
  const out = { ...params };
  if (Object.keys(rest).length === 0) delete out._meta;
  else out._meta = rest;
  return { key, params: out };
}
