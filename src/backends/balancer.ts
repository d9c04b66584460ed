import type { BackendTransport } from './transport.js';
import type { TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, RequestId } from '../core/jsonrpc.js';
import { isReply, isRequest } from '../core/jsonrpc.js';
import type { GatewayError } from '../core/errors.js';

export type Balance = 'least-connections' | 'round-robin' | 'weighted' | 'latency';

/** The transports a replica may speak, whatever its backend's own. */
export type ReplicaTransport = 'streamable-http' | 'sse' | 'auto' | 'websocket' | 'tcp';

/** One replica as configured or discovered. */
export interface ReplicaAddress {
  url: string;
  weight: number;
  /** Its own transport (cross-protocol replicas); default: told from the URL. */
  transport?: ReplicaTransport | undefined;
  /** A local replica: this program over stdio (`url` is then only its name in reports). */
  stdio?: StdioReplica | undefined;
}

export interface StdioReplica {
  command: string;
  args: string[];
  cwd?: string | undefined;
  env: Record<string, string>;
}

export interface Replica {
  url: string;
  weight: number;
  transport: ReplicaTransport | undefined;
  stdio: StdioReplica | undefined;
  /** Sessions placed on it now. */
  active: number;
  /** Until when (ms since the epoch) it is skipped after failing to connect. */
  unhealthyUntil: number;
  /** Smooth weighted round-robin state. */
  current: number;
  /** `latency`: the moving average of its answers' latency, ms; undefined until one is seen. */
  latencyMs: number | undefined;
  /** `latency`: when it was last measured, or last sent a session to find out. */
  lastSeen: number;
}

/** How long a replica that failed to connect is skipped. */
const COOL_DOWN_MS = 5000;
/** Weight of the newest sample in the latency average (EWMA). */
const ALPHA = 0.3;
/**
 * Added to every latency before comparing: on a fast network 1 ms against 3 ms is noise, not a
 * replica three times slower.
 */
const LATENCY_FLOOR_MS = 5;

export interface BalancerOptions {
  /** `latency`: a replica not measured for this long gets the next session, to see if it recovered. @default 10000 */
  probeIntervalMs?: number;
}

const fresh = ({ url, weight, transport, stdio }: ReplicaAddress): Replica => ({
  url,
  weight,
  transport,
  stdio,
  active: 0,
  unhealthyUntil: 0,
  current: 0,
  latencyMs: undefined,
  lastSeen: 0,
});

/**
 * Places sessions on replicas: the one with the fewest sessions, the next in turn, by weight
 * (nginx's smooth weighted round-robin), or by latency: the fewest sessions weighted by how fast
 * the replica has been answering (an EWMA of each request's time to its reply, measured on the
 * sessions placed there). A replica never measured is tried first; one not measured for
 * `probeIntervalMs` (a slow one that got no session since) gets the next session, so that a
 * replica that recovered wins its share back. Replicas that failed to connect recently are
 * skipped while any other is available. A session stays on its replica for its whole life.
 */
export class Balancer {
  replicas: Replica[];
  private turn = 0;
  private readonly probeIntervalMs: number;

  constructor(
    urls: ReplicaAddress[],
    private readonly strategy: Balance,
    options: BalancerOptions = {},
  ) {
    this.replicas = urls.map(fresh);
    this.probeIntervalMs = options.probeIntervalMs ?? 10_000;
  }

  /** Whether sessions placed here time their requests (only `latency` needs it). */
  get measures(): boolean {
    return this.strategy === 'latency';
  }

  /**
   * A new list of replicas (service discovery): those still listed keep their counts, new ones
   * start empty, and those gone take no new session (their sessions stay where they are).
   */
  update(urls: ReplicaAddress[]): void {
    if (urls.length === 0) return;
    const known = new Map(this.replicas.map((r) => [r.url, r]));
    this.replicas = urls.map((address) => {
      const kept = known.get(address.url);
      if (kept) {
        kept.weight = address.weight;
        return kept;
      }
      return fresh(address);
    });
  }

  pick(): Replica {
    const now = Date.now();
    const healthy = this.replicas.filter((r) => r.unhealthyUntil <= now);
    const pool = healthy.length > 0 ? healthy : this.replicas;
    switch (this.strategy) {
      case 'round-robin':
        return pool[this.turn++ % pool.length]!;
      case 'weighted': {
        const total = pool.reduce((sum, r) => sum + r.weight, 0);
        let best = pool[0]!;
        for (const r of pool) {
          r.current += r.weight;
          if (r.current > best.current) best = r;
        }
        best.current -= total;
        return best;
      }
      case 'least-connections': {
        let best = pool[0]!;
        for (const r of pool) if (r.active < best.active) best = r;
        return best;
      }
      case 'latency':
        return this.fastest(pool, now);
    }
  }

  private fastest(pool: Replica[], now: number): Replica {
    let best = pool[0]!;
    let bestScore = Infinity;
    for (const r of pool) {
      // Until its first answer a replica counts as fast, so a burst of sessions spreads by count.
      const score = ((r.latencyMs ?? 0) + LATENCY_FLOOR_MS) * (r.active + 1);
      if (score < bestScore) {
        best = r;
        bestScore = score;
      }
    }
    // One not measured for a while (or ever), and so not chosen on its own: look at it again,
    // one session per interval, the longest unseen first.
    let stale: Replica | undefined;
    for (const r of pool) {
      if (r === best || now - r.lastSeen < this.probeIntervalMs) continue;
      if (stale === undefined || r.lastSeen < stale.lastSeen) stale = r;
    }
    const chosen = stale ?? best;
    chosen.lastSeen = now;
    return chosen;
  }

  /** One answer from `replica` took `ms`. */
  observe(replica: Replica, ms: number): void {
    replica.latencyMs =
      replica.latencyMs === undefined ? ms : replica.latencyMs + ALPHA * (ms - replica.latencyMs);
    replica.lastSeen = Date.now();
  }

  /** Wraps a session's transport to its replica, keeping the replica's counts true. */
  place(replica: Replica, inner: BackendTransport): BackendTransport {
    replica.active++;
    return new PlacedTransport(replica, inner, this.measures ? this : undefined);
  }
}

/** Requests timed at once on one connection, at most: past it the oldest are forgotten. */
const MAX_TIMED = 1024;

class PlacedTransport implements BackendTransport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  private released = false;
  private connected = false;
  /** `latency` only: when each request in flight was sent (performance.now()), by id. */
  private readonly sentAt: Map<RequestId, number> | undefined;

  constructor(
    private readonly placement: Replica,
    private readonly inner: BackendTransport,
    private readonly timer?: Balancer,
  ) {
    if (timer) this.sentAt = new Map();
    inner.onmessage = (message) => {
      this.connected = true;
      if (this.sentAt !== undefined && isReply(message) && message.id !== undefined)
        this.answered(message.id);
      this.onmessage?.(message);
    };
    inner.onerror = (error) => this.onerror?.(error);
    inner.onclose = () => {
      this.release();
      this.onclose?.();
    };
  }

  get pid(): number | undefined {
    return this.inner.pid;
  }

  get replica(): string {
    return this.placement.url;
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.placement.active--;
  }

  private failed(error: unknown): never {
    // Never answered anything: the replica itself is the problem.
    if (!this.connected) this.placement.unhealthyUntil = Date.now() + COOL_DOWN_MS;
    throw error;
  }

  async start(): Promise<void> {
    try {
      await this.inner.start();
    } catch (error) {
      this.release();
      this.failed(error);
    }
  }

  private answered(id: RequestId): void {
    const sent = this.sentAt!.get(id);
    if (sent === undefined) return;
    this.sentAt!.delete(id);
    this.timer!.observe(this.placement, performance.now() - sent);
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    // initialize is left out: it times a process start or a connection, not the replica's answers.
    if (this.sentAt !== undefined && isRequest(message) && message.method !== 'initialize') {
      if (this.sentAt.size >= MAX_TIMED) this.sentAt.clear();
      this.sentAt.set(message.id, performance.now());
    }
    try {
      await this.inner.send(message, options);
    } catch (error) {
      this.failed(error);
    }
  }

  setProtocolVersion(version: string): void {
    this.inner.setProtocolVersion?.(version);
  }

  unavailable(): GatewayError {
    return this.inner.unavailable();
  }

  async close(): Promise<void> {
    this.release();
    await this.inner.close();
  }
}
