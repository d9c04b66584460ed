import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import type { GatewayConfig } from '../config/schema.js';
import type { Principal } from '../core/context.js';
import { GatewayError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { LocalSessions, SessionCluster } from '../frontends/session-cluster.js';
import type { PeerInfo } from '../frontends/types.js';
import { Forwarder, NonceCache } from './forward.js';
import { mintSessionId, principalHash } from './session-id.js';
import { ClusterStore } from './store.js';
import type { Heartbeat, SessionRecord } from './store.js';
import { ClusterEventStore, ClusterSessionTransport } from './transport.js';
import type { SessionRecorder } from './transport.js';

/*
 * One replica of a cluster (docs/scaling.md). It keeps a record of every Streamable HTTP session
 * it serves in Redis (owner, fencing epoch, the client's initialize, subscriptions, log level,
 * whose it is, which requests are answered on which stream), renews a heartbeat, and routes a
 * request naming a session it does not serve:
 *   - the owner is alive: forward it there, point to point, signed;
 *   - the owner is dead (heartbeat expired, or its listener refuses): claim the session (a
 *     compare-and-set that raises the epoch), start a new backend, replay the client's
 *     initialize, subscriptions and log level into it, end the requests that were in flight on
 *     a stream with a retryable error, and serve the request here (`failover: reinitialize`);
 *     or end the session, 404 (`failover: end`);
 *   - Redis is down: 503 with Retry-After; owners go on serving their own sessions.
 * An owner that finds its epoch superseded (it was paused, or cut off) closes its copy at once.
 * On SIGTERM it drains: /ready says 503, requests in flight finish, then each session is released
 * for the next replica a request reaches.
 */

interface LocalState {
  base: string;
  transport: ClusterSessionTransport;
  record: SessionRecord;
}

type Peer = Heartbeat;

export interface ClusterNodeOptions {
  config: Readonly<GatewayConfig>;
  log: Logger;
  /** The gateway's session by id: its principal, backend and the client's requests in flight. */
  sessionOf(id: string):
    | {
        principal: Principal | undefined;
        endpoint: string;
        clientRequestsInFlight: number;
      }
    | undefined;
  /** The backend name the root endpoint serves (`*` when aggregated). */
  rootEndpoint(): string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class ClusterNode implements SessionRecorder {
  readonly replicaId: string;
  readonly eventStore: ClusterEventStore;
  /** @internal */ readonly store: ClusterStore;
  /** @internal */ readonly secret: string;
  /** @internal */ readonly log: Logger;
  /** @internal */ readonly config: Readonly<GatewayConfig>;
  /** @internal */ readonly endpoints = new Map<string, LocalSessions>();
  /** @internal */ readonly local = new Map<string, LocalState>();
  /** Sessions opened here whose initialize has not succeeded yet: their endpoint. */
  private readonly fresh = new Map<string, string>();
  /** @internal */ readonly adopting = new Map<string, Promise<boolean>>();
  /** @internal */ readonly handingOver = new Set<string>();
  /** @internal */ readonly forwards = new Map<string, Set<AbortController>>();
  /** @internal */ readonly forwarder = new Forwarder();
  /** @internal */ readonly nonces = new NonceCache();
  /** @internal */ peers = new Map<string, Peer>();
  private lastBeatOk = 0;
  private lastTouch = Date.now();
  /** @internal */ healthy: boolean | undefined;
  /** @internal */ healthySince = 0;
  /** @internal */ drainingNow = false;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private internal: Server | undefined;
  private advertise = '';
  private readonly startedAt = Date.now();
  /** Set by createClusterNode (index.ts): how requests for other replicas' sessions are routed. */
  router!: {
    route(
      base: string,
      req: IncomingMessage,
      res: ServerResponse,
      peer: PeerInfo,
      local: LocalSessions,
    ): Promise<boolean>;
    serveForward(req: IncomingMessage, res: ServerResponse): Promise<void>;
  };
  readonly counters = { forwarded: 0, adopted: 0, fenced: 0, handedOver: 0, refusedForwards: 0 };

  constructor(/** @internal */ readonly options: ClusterNodeOptions) {
    const { config } = options;
    this.config = config;
    this.log = options.log.child({ component: 'cluster' });
    this.replicaId =
      config.cluster.replicaId ??
      (hostname()
        .replace(/[^A-Za-z0-9-]/g, '-')
        .slice(0, 63) ||
        'replica');
    this.secret = config.cluster.secret!;
    this.store = new ClusterStore({
      url: config.redis.url!,
      prefix: config.redis.keyPrefix,
      log: this.log,
      commandTimeoutMs: Math.max(200, Math.min(1000, config.cluster.ttlMs / 3)),
      idleMs: config.sessions.idleTimeoutMs,
      eventsPerStream: config.cluster.eventsPerStream,
    });
    this.store.redis.on('error', (error: Error) => this.log.debug({ err: error }, 'redis error'));
    this.store.redis.on('close', () => this.setHealthy(false));
    this.eventStore = new ClusterEventStore({
      append: (sid, stream, seq, json, first) => {
        if (this.healthy && this.local.has(sid))
          this.store.append(sid, stream, seq, json, first).catch(() => {});
      },
      replay: async (sid, stream, seq) => {
        try {
          return await this.store.replay(sid, stream, seq);
        } catch {
          throw new GatewayError(
            'GATEWAY_CLUSTER_UNAVAILABLE',
            'the session store cannot be reached',
            {
              data: { retryAfter: 1 },
            },
          );
        }
      },
      keeps: () => true,
    });
  }

  get draining(): boolean {
    return this.drainingNow;
  }

  get address(): string {
    return this.advertise;
  }

  /** What a Streamable HTTP endpoint at `base` gets: its hooks and its event store. */
  forEndpoint(base: string): { cluster: SessionCluster; eventStore: ClusterEventStore } {
    const cluster: SessionCluster = {
      newSessionId: () => mintSessionId(this.secret, this.replicaId),
      transport: (sessionId, options) => {
        this.fresh.set(sessionId, base);
        const transport = new ClusterSessionTransport(sessionId, options, this);
        this.transports.set(sessionId, transport);
        return transport;
      },
      route: (req, res, peer, local) => this.router.route(base, req, res, peer, local),
    };
    return { cluster, eventStore: this.eventStore };
  }

  attach(base: string, sessions: LocalSessions): void {
    this.endpoints.set(base, sessions);
  }

  // ── lifecycle ─────────────────────────────────────────────────────────────────────────

  async start(defaultHost: string): Promise<void> {
    const { cluster } = this.config;
    const host = cluster.host ?? defaultHost;
    this.internal = createServer((req, res) => void this.router.serveForward(req, res));
    this.internal.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      this.internal!.once('error', reject);
      this.internal!.listen(cluster.port, host, () => {
        this.internal!.off('error', reject);
        resolve();
      });
    });
    const bound = this.internal.address() as AddressInfo;
    const shown = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
    this.advertise = cluster.advertise ?? `${shown}:${bound.port}`;
    try {
      await this.store.redis.connect();
    } catch (error) {
      this.log.warn(
        { err: error },
        'Redis cannot be reached yet; sessions stay on this replica until it can',
      );
    }
    await this.tick();
    this.timer = setInterval(() => void this.tick(), cluster.heartbeatMs).unref();
    this.log.info(
      { replica: this.replicaId, internal: this.advertise, redis: this.healthy ? 'up' : 'down' },
      'cluster member started',
    );
  }

  /**
   * SIGTERM: /ready answers 503 for `drainDelayMs` (the load balancer stops sending here) while
   * everything is still served; then each session, once nothing is in flight, is released for
   * another replica to continue. Forwards keep arriving on the internal listener until then.
   */
  async drain(timeoutMs: number): Promise<void> {
    if (this.drainingNow) return;
    this.drainingNow = true;
    this.log.info(
      { sessions: this.local.size, delayMs: this.config.cluster.drainDelayMs },
      'draining: /ready is 503',
    );
    await sleep(this.config.cluster.drainDelayMs);
    const deadline = Date.now() + timeoutMs;
    for (let round = 0; this.local.size > 0 && round < 5; round++) {
      await Promise.allSettled([...this.local.keys()].map((sid) => this.handover(sid, deadline)));
    }
    this.log.info({ handedOver: this.counters.handedOver }, 'drained: sessions handed over');
  }

  private async handover(sid: string, deadline: number): Promise<void> {
    const state = this.local.get(sid);
    if (!state) return;
    this.handingOver.add(sid);
    while ((this.options.sessionOf(sid)?.clientRequestsInFlight ?? 0) > 0 && Date.now() < deadline)
      await sleep(20);
    try {
      if (this.healthy) await this.store.release(sid, this.replicaId, state.record.epoch);
    } catch (error) {
      this.log.warn(
        { err: error, session: sid },
        'could not release a session; it is adopted once this replica has gone',
      );
    }
    this.counters.handedOver++;
    this.dropLocal(sid, 'handed over');
    this.handingOver.delete(sid);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.ticking;
    try {
      if (this.healthy) await this.store.leave(this.replicaId);
    } catch {
      // its heartbeat expires by itself
    }
    if (this.internal) {
      const internal = this.internal;
      await new Promise<void>((resolve) => {
        internal.close(() => resolve());
        internal.closeIdleConnections();
        setTimeout(() => internal.closeAllConnections(), 2000).unref();
      });
    }
    this.forwarder.close();
    await this.store.close();
  }

  // ── heartbeat and fencing ─────────────────────────────────────────────────────────────

  private setHealthy(up: boolean, error?: unknown): void {
    if (this.healthy === up) return;
    const was = this.healthy;
    this.healthy = up;
    if (up) {
      this.healthySince = Date.now();
      if (was === false)
        this.log.info(
          'session store (Redis) back: forwarding, adoption and event mirroring resume',
        );
    } else if (was !== undefined) {
      this.log.warn(
        { err: error },
        "session store (Redis) lost: sessions stay on their owners; requests for other replicas' sessions get 503 until it is back",
      );
    }
  }

  private tick(): Promise<void> {
    if (this.ticking) return this.ticking;
    this.ticking = this.beat().finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  private async beat(): Promise<void> {
    const { ttlMs } = this.config.cluster;
    const wasHealthy = this.healthy;
    try {
      const beats = await this.store.heartbeat(
        this.replicaId,
        { addr: this.advertise, pid: process.pid, startedAt: this.startedAt, at: Date.now() },
        ttlMs,
      );
      // Whose are our sessions now? One superseded while we were away is closed here at once.
      const sids = [...this.local.keys()].filter((sid) => !this.handingOver.has(sid));
      if (sids.length > 0) {
        const owners = await this.store.owners(sids);
        await Promise.all(
          sids.map(async (sid, i) => {
            const held = owners[i];
            const state = this.local.get(sid);
            if (!state) return;
            if (held === undefined) {
              // Redis lost it (restarted empty): put it back, unless someone else holds it.
              if (!(await this.store.restore(sid, state.record))) this.fence(sid, 'record taken');
            } else if (held.owner !== this.replicaId || held.epoch !== state.record.epoch) {
              this.fence(sid, `now ${held.owner || 'released'} at epoch ${held.epoch}`);
            }
          }),
        );
      }
      if (Date.now() - this.lastTouch > 60_000) {
        this.lastTouch = Date.now();
        await Promise.all(sids.map((sid) => this.store.touch(sid)));
      }
      this.peers = beats;
      this.lastBeatOk = Date.now();
      this.setHealthy(true);
      if (wasHealthy === false)
        this.log.info({ sessions: sids.length }, 'session records checked after the outage');
      // Forwards to a replica whose heartbeat expired will not be answered.
      for (const [owner, pending] of this.forwards) {
        if (this.peers.has(owner)) continue;
        for (const controller of pending) controller.abort();
      }
    } catch (error) {
      this.setHealthy(false, error);
    }
  }

  /** Closes this replica's copy of a session another replica now holds; its keys stay. */
  /** @internal */ fence(sid: string, why: string): void {
    if (!this.local.has(sid)) return;
    this.counters.fenced++;
    this.log.warn(
      { session: sid, why },
      "fenced: this session is another replica's now; closing it here",
    );
    this.dropLocal(sid, 'fenced');
  }

  private dropLocal(sid: string, _reason: string): void {
    const state = this.local.get(sid);
    if (!state) return;
    this.local.delete(sid);
    this.transports.delete(sid);
    state.transport.keepRecord = true;
    void state.transport.close();
  }

  /** Whether this replica may be superseded without knowing: it has not renewed for a TTL. */
  /** @internal */ leaseStale(): boolean {
    return Date.now() - this.lastBeatOk > this.config.cluster.ttlMs;
  }

  // ── the recorder: what sessions tell ─────────────────────────────────────────────────

  async initialized(sid: string, init: string, version: string): Promise<void> {
    const base = this.fresh.get(sid) ?? '';
    this.fresh.delete(sid);
    const session = this.options.sessionOf(sid);
    const backend = session?.endpoint ?? this.options.rootEndpoint();
    const record: SessionRecord = {
      owner: this.replicaId,
      epoch: 1,
      endpoint: base,
      backend,
      failover: this.failoverOf(backend),
      principal: principalHash(session?.principal),
      init,
      version,
      logLevel: '',
      subscriptions: [],
      inflight: {},
    };
    const transport = this.transportOf(sid);
    if (!transport) return;
    this.local.set(sid, { base, transport, record });
    if (!this.healthy) return; // written when Redis is back (beat → restore)
    try {
      await this.store.create(sid, record);
    } catch (error) {
      this.log.debug(
        { err: error, session: sid },
        'session record not written; it is once Redis is back',
      );
    }
  }

  /** @internal */ readonly transports = new Map<string, ClusterSessionTransport>();

  private transportOf(sid: string): ClusterSessionTransport | undefined {
    return this.transports.get(sid);
  }

  subscribed(sid: string, uri: string, on: boolean): void {
    const state = this.local.get(sid);
    if (!state) return;
    const subs = new Set(state.record.subscriptions);
    if (on) subs.add(uri);
    else subs.delete(uri);
    state.record.subscriptions = [...subs];
    if (this.healthy) this.store.subscribe(sid, uri, on).catch(() => {});
  }

  logLevel(sid: string, level: string): void {
    const state = this.local.get(sid);
    if (!state) return;
    state.record.logLevel = level;
    if (this.healthy) this.store.setLogLevel(sid, level).catch(() => {});
  }

  streamed(sid: string, id: string, stream: string | undefined): void {
    if (this.healthy && this.local.has(sid)) this.store.inflight(sid, id, stream).catch(() => {});
  }

  ended(sid: string): void {
    this.fresh.delete(sid);
    this.transports.delete(sid);
    const state = this.local.get(sid);
    if (!state) return;
    this.local.delete(sid);
    if (this.healthy) this.store.end(sid, this.replicaId, state.record.epoch).catch(() => {});
  }

  private failoverOf(backend: string): 'reinitialize' | 'end' {
    const fallback = this.config.cluster.failover;
    if (backend !== '*') return this.config.backends[backend]?.failover ?? fallback;
    const all = Object.values(this.config.backends).filter((b) => b.enabled);
    return all.some((b) => (b.failover ?? fallback) === 'end') ? 'end' : fallback;
  }

  /** For /stats and tests. */
  describe(): Record<string, unknown> {
    return {
      replica: this.replicaId,
      internal: this.advertise,
      redis: this.healthy ? 'up' : 'down',
      draining: this.drainingNow,
      sessions: this.local.size,
      peers: [...this.peers.keys()],
      ...this.counters,
    };
  }
}
