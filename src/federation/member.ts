import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { Backend } from '../backends/backend.js';
import type {
  JSONRPCMessage,
  JSONRPCNotification,
  JSONRPCReply,
  JSONRPCRequest,
  RequestId,
} from '../core/jsonrpc.js';
import { isReply, isRequest } from '../core/jsonrpc.js';
import { GatewayError, toErrorReply } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Principal } from '../core/policy.js';
import { withId } from '../core/raw-json.js';

export type MemberState = 'connecting' | 'up' | 'down' | 'failed' | 'closed';

export interface Supervision {
  restartOnFailure: boolean;
  maxRestartAttempts: number;
  backoffMs: number;
  backoffMaxMs: number;
  /** Longest a (re)connection with its initialize may take. */
  connectTimeoutMs: number;
  /** How often a connected backend is pinged; 0: never. */
  healthCheckIntervalMs?: number;
  /** A ping unanswered for this long counts as the backend being lost. */
  healthCheckTimeoutMs?: number;
}

export interface MemberOptions {
  backend: Backend;
  /** The caller, for backends that take its credentials. */
  principal?: Principal;
  supervision: Supervision;
  log: Logger;
  /** A notification from the backend. */
  onNotification(member: Member, message: JSONRPCNotification): void;
  /** A request from the backend to the client (sampling, elicitation, roots); resolves with the answer. */
  onRequest(member: Member, message: JSONRPCRequest): Promise<JSONRPCReply>;
  /** The member came up, went down, or gave up. */
  onStateChange(member: Member): void;
}

interface Pending {
  resolve(reply: JSONRPCReply): void;
  timer: NodeJS.Timeout | undefined;
  extend(): void;
}

/**
 * One backend inside an aggregated session: an MCP client connection of the gateway's own,
 * initialized with the client's own capabilities, and brought back with backoff when it fails.
 * Requests resolve with the backend's raw reply (a result or an error), so results reach the
 * client unchanged.
 */
export class Member {
  state: MemberState = 'connecting';
  lastError: string | undefined;
  /** Restarts so far; failures in a row decide the backoff. */
  restarts = 0;
  capabilities: Record<string, unknown> = {};
  instructions: string | undefined;

  private transport: Transport | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private failuresInARow = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private initParams: Record<string, unknown> = {};

  constructor(
    readonly name: string,
    private readonly options: MemberOptions,
  ) {}

  get pid(): number | undefined {
    return (this.transport as { pid?: number } | undefined)?.pid;
  }

  get isUp(): boolean {
    return this.state === 'up';
  }

  /** Connects and initializes; never throws: a failure leaves the member down, retrying. */
  async connect(initParams: Record<string, unknown>): Promise<void> {
    this.initParams = initParams;
    await this.attempt();
  }

  private async attempt(): Promise<void> {
    if (this.state === 'closed') return;
    this.setState('connecting');
    const transport = this.options.backend.connect(this.options.log, this.options.principal);
    this.transport = transport;
    transport.onmessage = (message) => this.receive(message);
    transport.onclose = () => this.lost(transport);
    transport.onerror = (error) =>
      this.options.log.debug({ err: error, backend: this.name }, 'backend transport error');
    try {
      await transport.start();
      const reply = await this.request(
        'initialize',
        this.initParams,
        this.options.supervision.connectTimeoutMs,
      );
      if ('error' in reply)
        throw new GatewayError(
          'GATEWAY_BACKEND_UNAVAILABLE',
          `${this.name} refused initialize: ${reply.error.message}`,
        );
      const result = reply.result as {
        capabilities?: Record<string, unknown>;
        instructions?: string;
        protocolVersion?: string;
      };
      this.capabilities = result.capabilities ?? {};
      this.instructions = result.instructions;
      if (typeof result.protocolVersion === 'string')
        transport.setProtocolVersion?.(result.protocolVersion);
      await transport.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      if (this.transport !== transport) return;
      this.failuresInARow = 0;
      this.lastError = undefined;
      this.setState('up');
      this.startPinging(transport);
    } catch (error) {
      if (this.transport !== transport || (this.state as MemberState) === 'closed') return;
      this.transport = undefined;
      transport.onclose = undefined;
      void transport.close().catch(() => {});
      this.failed(error instanceof Error ? error.message : String(error));
    }
  }

  /** Pings on an interval; an unanswered ping is treated as a lost connection, and restarted. */
  private startPinging(transport: Transport): void {
    const { healthCheckIntervalMs = 0, healthCheckTimeoutMs = 5000 } = this.options.supervision;
    clearInterval(this.pingTimer);
    if (healthCheckIntervalMs <= 0) return;
    this.pingTimer = setInterval(() => {
      if (this.transport !== transport || this.state !== 'up') return;
      void this.request('ping', undefined, healthCheckTimeoutMs).then((reply) => {
        if (!('error' in reply) || this.transport !== transport) return;
        this.options.log.warn(
          { backend: this.name, reason: reply.error.message },
          'health check failed',
        );
        transport.onclose = undefined;
        void transport.close().catch(() => {});
        this.lost(transport, `health check failed: ${reply.error.message}`);
      });
    }, healthCheckIntervalMs);
    this.pingTimer.unref();
  }

  private lost(transport: Transport, why?: string): void {
    if (this.transport !== transport || this.state === 'closed') return;
    clearInterval(this.pingTimer);
    this.transport = undefined;
    const error = why
      ? new GatewayError('GATEWAY_BACKEND_UNAVAILABLE', `${this.name}: ${why}`)
      : ((transport as { unavailable?: () => GatewayError }).unavailable?.() ??
        new GatewayError('GATEWAY_BACKEND_EXITED', `${this.name}: the connection closed`));
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.resolve(toErrorReply(id, error));
    }
    this.pending.clear();
    this.failed(error.message);
  }

  private failed(reason: string): void {
    this.lastError = reason;
    this.failuresInARow++;
    const { restartOnFailure, maxRestartAttempts, backoffMs, backoffMaxMs } =
      this.options.supervision;
    if (!restartOnFailure || this.failuresInARow > maxRestartAttempts) {
      this.options.log.error(
        { backend: this.name, reason, attempts: this.failuresInARow },
        'backend failed; giving up',
      );
      this.setState('failed');
      return;
    }
    const base = Math.min(backoffMaxMs, backoffMs * 2 ** (this.failuresInARow - 1));
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.options.log.warn(
      { backend: this.name, reason, retryInMs: delay, attempt: this.failuresInARow },
      'backend down; restarting',
    );
    this.setState('down');
    this.retryTimer = setTimeout(() => {
      this.restarts++;
      void this.attempt();
    }, delay);
    this.retryTimer.unref();
  }

  private setState(state: MemberState): void {
    if (this.state === state) return;
    this.state = state;
    this.options.onStateChange(this);
  }

  /** Sends a request; resolves with the raw reply, or an error reply if the backend is gone or too slow. */
  request(
    method: string,
    params: Record<string, unknown> | undefined,
    timeoutMs: number,
  ): Promise<JSONRPCReply> {
    return this.forward({ jsonrpc: '2.0', id: 0, method, ...(params ? { params } : {}) }, timeoutMs)
      .reply;
  }

  /**
   * Forwards a request under an id of ours. `id` is what a cancellation must name. Timing out
   * cancels the request at the backend.
   */
  forward(
    message: JSONRPCRequest,
    timeoutMs: number,
    maxTimeoutMs = timeoutMs,
  ): { id: number; reply: Promise<JSONRPCReply> } {
    const id = this.nextId++;
    const transport = this.transport;
    if (!transport || (this.state !== 'up' && message.method !== 'initialize')) {
      const why = this.lastError ? `: ${this.lastError}` : '';
      const error = new GatewayError(
        'GATEWAY_BACKEND_UNAVAILABLE',
        `${this.name} is ${this.state}${why}`,
      );
      return { id, reply: Promise.resolve(toErrorReply(message.id, error)) };
    }
    const reply = new Promise<JSONRPCReply>((resolve) => {
      const started = Date.now();
      const expire = () => {
        this.pending.delete(id);
        this.cancel(id, 'timed out');
        const error = new GatewayError(
          'GATEWAY_TIMEOUT',
          `${this.name} did not answer ${message.method} within ${Date.now() - started} ms`,
        );
        resolve(toErrorReply(message.id, error));
      };
      const pending: Pending = {
        resolve: (r) => resolve(withId(r, message.id)),
        timer: timeoutMs > 0 ? setTimeout(expire, timeoutMs) : undefined,
        // Progress moves the deadline to timeoutMs from now, never past maxTimeoutMs from the start.
        extend: () => {
          if (!pending.timer) return;
          const until = Math.min(
            Date.now() + timeoutMs,
            started + Math.max(timeoutMs, maxTimeoutMs),
          );
          clearTimeout(pending.timer);
          pending.timer = setTimeout(expire, Math.max(0, until - Date.now()));
        },
      };
      this.pending.set(id, pending);
      transport.send({ ...message, id }).catch((error: unknown) => {
        if (!this.pending.delete(id)) return;
        clearTimeout(pending.timer);
        resolve(toErrorReply(message.id, error));
      });
    });
    return { id, reply };
  }

  /** A progress notification arrived for a forwarded request: its deadline moves. */
  extend(id: number): void {
    this.pending.get(id)?.extend();
  }

  /** Cancels a forwarded request; its reply will not come. */
  cancel(id: number, reason: string): void {
    const pending = this.pending.get(id);
    if (pending) {
      clearTimeout(pending.timer);
      this.pending.delete(id);
    }
    this.notify('notifications/cancelled', { requestId: id, reason });
  }

  notify(method: string, params?: Record<string, unknown>): void {
    if (this.state !== 'up' || !this.transport) return;
    this.transport.send({ jsonrpc: '2.0', method, ...(params ? { params } : {}) }).catch(() => {});
  }

  get inFlight(): number {
    return this.pending.size;
  }

  private receive(message: JSONRPCMessage): void {
    if (isReply(message)) {
      const pending = typeof message.id === 'number' ? this.pending.get(message.id) : undefined;
      if (!pending) return;
      this.pending.delete(message.id as number);
      clearTimeout(pending.timer);
      pending.resolve(message);
      return;
    }
    if (isRequest(message)) {
      const transport = this.transport;
      void this.options.onRequest(this, message).then((reply) => {
        transport?.send(withId(reply, message.id)).catch(() => {});
      });
      return;
    }
    this.options.onNotification(this, message as JSONRPCNotification);
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.resolve(
        toErrorReply(id, new GatewayError('GATEWAY_SESSION_CLOSED', 'the session ended')),
      );
    }
    this.pending.clear();
    const transport = this.transport;
    this.transport = undefined;
    if (transport) {
      transport.onclose = undefined;
      await transport.close().catch(() => {});
    }
  }
}

export type { RequestId };
