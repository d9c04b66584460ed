import type { FrontendKind, OpenSession, PeerInfo, SessionHandle } from '../frontends/types.js';
import type { Logger } from '../core/logger.js';
import { GatewayError } from '../core/errors.js';
import { version as bridgeVersion } from '../version.js';
import { PoolClientTransport } from './pool-client.js';
import type { Envelope } from './modern.js';
import { canonicalJson, carriedCapabilities } from './modern.js';

/** The legacy revision the bridge speaks to a legacy server on a modern client's behalf. */
const LEGACY_VERSION = '2025-11-25';

export interface ModernPoolOptions {
  openSession: OpenSession;
  kind: FrontendKind;
  log: Logger;
  /** Sessions kept per key (caller, capabilities, client name). @default 8 */
  maxPerKey?: number;
  /** How long a request waits for a session of its key when all are busy. @default 30000 */
  acquireTimeoutMs?: number;
}

/** One initialized legacy session a modern request can borrow. */
export class PooledSession {
  busy = false;
  /** The `logging/setLevel` the session was last given. */
  level: string | undefined;

  constructor(
    readonly key: string,
    readonly client: PoolClientTransport,
    readonly handle: SessionHandle,
    /** The session's `initialize` result: what `server/discover` is answered from. */
    readonly init: Record<string, unknown>,
  ) {}

  get closed(): boolean {
    return this.client.isClosed;
  }
}

interface Waiter {
  resolve(session: PooledSession): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

interface Bucket {
  sessions: PooledSession[];
  /** Sessions being opened, counted against the cap. */
  opening: number;
  waiters: Waiter[];
}

/**
 * Legacy sessions held for modern (2026-07-28) clients. A modern request carries no session, so
 * the bridge borrows one that was initialized with the same capabilities for the same caller:
 * one request at a time per session, so that what the server sends while it runs (progress, log
 * messages, its own requests) belongs to that request without doubt. Sessions are made on
 * demand, up to a cap per key; an idle one ends by the gateway's idle sweep like any other.
 */
export class ModernPool {
  private readonly buckets = new Map<string, Bucket>();
  private readonly maxPerKey: number;
  private readonly acquireTimeoutMs: number;
  private closed = false;

  constructor(private readonly options: ModernPoolOptions) {
    this.maxPerKey = options.maxPerKey ?? 8;
    this.acquireTimeoutMs = options.acquireTimeoutMs ?? 30_000;
  }

  /** How many sessions the pool holds now. */
  get size(): number {
    let n = 0;
    for (const bucket of this.buckets.values()) n += bucket.sessions.length;
    return n;
  }

  static keyOf(envelope: Envelope, peer: PeerInfo): string {
    const capabilities = canonicalJson(carriedCapabilities(envelope.clientCapabilities));
    return `${peer.principal?.id ?? '-'}\u0000${capabilities}\u0000${envelope.clientInfo?.name ?? ''}`;
  }

  /** A session of this key for the caller alone, until `release` or `discard`. */
  async acquire(envelope: Envelope, peer: PeerInfo): Promise<PooledSession> {
    if (this.closed) throw new GatewayError('GATEWAY_SHUTTING_DOWN');
    const key = ModernPool.keyOf(envelope, peer);
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = { sessions: [], opening: 0, waiters: [] };
      this.buckets.set(key, bucket);
    }
    const idle = bucket.sessions.find((s) => !s.busy && !s.closed);
    if (idle) {
      idle.busy = true;
      return idle;
    }
    if (bucket.sessions.length + bucket.opening < this.maxPerKey) {
      bucket.opening++;
      try {
        const session = await this.open(key, envelope, peer);
        session.busy = true;
        bucket.sessions.push(session);
        return session;
      } finally {
        bucket.opening--;
      }
    }
    const waiting = bucket;
    return new Promise<PooledSession>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          waiting.waiters = waiting.waiters.filter((w) => w !== waiter);
          reject(
            new GatewayError(
              'GATEWAY_TOO_MANY_SESSIONS',
              `all ${this.maxPerKey} pooled sessions of this caller are busy (modern.pool.maxPerKey)`,
            ),
          );
        }, this.acquireTimeoutMs),
      };
      waiting.waiters.push(waiter);
    });
  }

  /** Gives a session back for the next request. */
  release(session: PooledSession): void {
    session.client.lease(undefined);
    const bucket = this.buckets.get(session.key);
    if (!bucket || session.closed) {
      session.busy = false;
      return;
    }
    const waiter = bucket.waiters.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      waiter.resolve(session);
      return;
    }
    session.busy = false;
  }

  /** Ends a session that must not serve again (its request was cancelled mid-round). */
  discard(session: PooledSession, reason: string): void {
    session.client.lease(undefined);
    void session.handle.close(reason);
  }

  private async open(key: string, envelope: Envelope, peer: PeerInfo): Promise<PooledSession> {
    const client = new PoolClientTransport();
    const handle = await this.options.openSession(client, this.options.kind, peer);
    const { reply } = client.request('initialize', {
      protocolVersion: LEGACY_VERSION,
      capabilities: carriedCapabilities(envelope.clientCapabilities),
      clientInfo: envelope.clientInfo ?? { name: 'mcp-bridge', version: bridgeVersion },
    });
    const answer = await reply;
    if ('error' in answer) {
      void handle.close('initialize refused');
      throw new GatewayError('GATEWAY_BACKEND_UNAVAILABLE', answer.error.message);
    }
    client.notify('notifications/initialized');
    const session = new PooledSession(key, client, handle, answer.result);
    client.onended = () => this.forget(session);
    this.options.log.debug({ session: handle.id }, 'pooled a legacy session for modern clients');
    return session;
  }

  private forget(session: PooledSession): void {
    const bucket = this.buckets.get(session.key);
    if (!bucket) return;
    bucket.sessions = bucket.sessions.filter((s) => s !== session);
    if (bucket.sessions.length === 0 && bucket.opening === 0 && bucket.waiters.length === 0)
      this.buckets.delete(session.key);
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.buckets.values()];
    this.buckets.clear();
    for (const bucket of all) {
      for (const waiter of bucket.waiters) {
        clearTimeout(waiter.timer);
        waiter.reject(new GatewayError('GATEWAY_SHUTTING_DOWN'));
      }
    }
    await Promise.allSettled(
      all.flatMap((b) => b.sessions.map((s) => s.handle.close('gateway shutting down'))),
    );
  }
}
