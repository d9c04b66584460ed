import type { JSONRPCNotification, JSONRPCReply } from '../core/jsonrpc.js';
import type { Principal, RequestContext } from '../core/context.js';
import type { Outcome } from '../core/policy.js';
import { GatewayError, toErrorReply } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { BackendTarget } from './backend-target.js';
import type { BackendLink, Upstream } from './link.js';

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
  /** The caller, for backends that take its credentials. */
  principal?: Principal;
  supervision: Supervision;
  log: Logger;
  /** Where the backend's own messages go (the federated target, on their way to the session). */
  upstream: Upstream;
  /** The member came up, went down, or gave up. */
  onStateChange(member: Member): void;
}

/**
 * One backend inside an aggregated session: a link initialized with the client's own
 * capabilities, its backend's chain over it, and supervision that brings it back with backoff
 * when it fails. Requests run through the backend target's chain, exactly as on the backend's own
 * endpoint.
 */
export class Member {
  state: MemberState = 'connecting';
  lastError: string | undefined;
  /** Restarts so far; failures in a row decide the backoff. */
  restarts = 0;
  capabilities: Record<string, unknown> = {};
  instructions: string | undefined;

  private link: BackendLink | undefined;
  private run: ((ctx: RequestContext) => Promise<Outcome>) | undefined;
  private failuresInARow = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private initParams: Record<string, unknown> = {};
  private readonly waiting = new Set<() => void>();

  constructor(
    readonly target: BackendTarget,
    private readonly options: MemberOptions,
  ) {}

  get name(): string {
    return this.target.name;
  }

  get pid(): number | undefined {
    return this.link?.transport.pid;
  }

  get isUp(): boolean {
    return this.state === 'up';
  }

  get inFlight(): number {
    return this.link?.inFlight ?? 0;
  }

  /** Connects and initializes; never throws: a failure leaves the member down, retrying. */
  async connect(initParams: Record<string, unknown>): Promise<void> {
    this.initParams = initParams;
    await this.attempt();
  }

  /** Resolves once the member is no longer connecting, or after `waitMs`. */
  async settled(waitMs: number): Promise<void> {
    if (this.state !== 'connecting') return;
    let timer: NodeJS.Timeout | undefined;
    let done!: () => void;
    await new Promise<void>((resolve) => {
      done = resolve;
      this.waiting.add(done);
      timer = setTimeout(resolve, waitMs);
    });
    clearTimeout(timer);
    this.waiting.delete(done);
  }

  private async attempt(): Promise<void> {
    if (this.state === 'closed') return;
    this.setState('connecting');
    const link = this.target.link(this.options.upstream, this.options.log, this.options.principal);
    this.link = link;
    link.onclose = (error) => this.lost(link, error);
    try {
      await link.start();
      const reply = await link.call(
        'initialize',
        this.initParams,
        this.options.supervision.connectTimeoutMs,
      );
      if ('error' in reply)
        throw new GatewayError(
          'GATEWAY_BACKEND_UNAVAILABLE',
          `${this.name} refused initialize: ${reply.error.message}`,
        );
      const result = reply.result;
      this.capabilities = (result.capabilities as Record<string, unknown> | undefined) ?? {};
      this.instructions = typeof result.instructions === 'string' ? result.instructions : undefined;
      if (typeof result.protocolVersion === 'string')
        link.transport.setProtocolVersion?.(result.protocolVersion);
      await link.notify({ jsonrpc: '2.0', method: 'notifications/initialized' });
      if (this.link !== link) return;
      this.run = this.target.chain(link);
      this.failuresInARow = 0;
      this.lastError = undefined;
      this.setState('up');
      this.startPinging(link);
    } catch (error) {
      if (this.link !== link || (this.state as MemberState) === 'closed') return;
      this.link = undefined;
      void link.close();
      this.failed(error instanceof Error ? error.message : String(error));
    }
  }

  /** Pings on an interval; an unanswered ping is treated as a lost connection, and restarted. */
  private startPinging(link: BackendLink): void {
    const { healthCheckIntervalMs = 0, healthCheckTimeoutMs = 5000 } = this.options.supervision;
    clearInterval(this.pingTimer);
    if (healthCheckIntervalMs <= 0) return;
    this.pingTimer = setInterval(() => {
      if (this.link !== link || this.state !== 'up') return;
      void link.call('ping', undefined, healthCheckTimeoutMs).then((reply) => {
        if (!('error' in reply) || this.link !== link) return;
        this.options.log.warn(
          { backend: this.name, reason: reply.error.message },
          'health check failed',
        );
        const error = new GatewayError(
          'GATEWAY_BACKEND_UNAVAILABLE',
          `${this.name}: health check failed: ${reply.error.message}`,
        );
        void link.close(error);
        this.lost(link, error);
      });
    }, healthCheckIntervalMs);
    this.pingTimer.unref();
  }

  private lost(link: BackendLink, error: GatewayError): void {
    if (this.link !== link || this.state === 'closed') return;
    clearInterval(this.pingTimer);
    this.link = undefined;
    this.run = undefined;
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
    if (state !== 'connecting') {
      for (const wake of this.waiting) wake();
      this.waiting.clear();
    }
    this.options.onStateChange(this);
  }

  /** The error for a request this member cannot take now. */
  unavailable(): GatewayError {
    const why = this.lastError ? `: ${this.lastError}` : '';
    return new GatewayError('GATEWAY_BACKEND_UNAVAILABLE', `${this.name} is ${this.state}${why}`);
  }

  /** Runs a request through the backend's chain over this member's link. */
  dispatch(ctx: RequestContext): Promise<Outcome> {
    if (!this.run) return Promise.reject(this.unavailable());
    return this.run(ctx);
  }

  /** A request of the gateway's own, outside the chain (setLevel on behalf of the session). */
  call(method: string, params: Record<string, unknown> | undefined, timeoutMs: number) {
    if (!this.link || this.state !== 'up')
      return Promise.resolve<JSONRPCReply>(toErrorReply(0, this.unavailable()));
    return this.link.call(method, params, timeoutMs);
  }

  notify(message: JSONRPCNotification): void {
    if (this.state !== 'up' || !this.link) return;
    this.link.notify(message).catch(() => {});
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    for (const wake of this.waiting) wake();
    this.waiting.clear();
    const link = this.link;
    this.link = undefined;
    this.run = undefined;
    await link?.close();
  }
}
