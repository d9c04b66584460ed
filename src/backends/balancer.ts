import type { BackendTransport } from './transport.js';
import type { TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '../core/jsonrpc.js';
import type { GatewayError } from '../core/errors.js';

export type Balance = 'least-connections' | 'round-robin' | 'weighted';

export interface Replica {
  url: string;
  weight: number;
  /** Sessions placed on it now. */
  active: number;
  /** Until when (ms since the epoch) it is skipped after failing to connect. */
  unhealthyUntil: number;
  /** Smooth weighted round-robin state. */
  current: number;
}

/** How long a replica that failed to connect is skipped. */
const COOL_DOWN_MS = 5000;

/**
 * Places sessions on replicas: the one with the fewest sessions, the next in turn, or by weight
 * (nginx's smooth weighted round-robin). Replicas that failed to connect recently are skipped
 * while any other is available. A session stays on its replica for its whole life.
 */
export class Balancer {
  readonly replicas: Replica[];
  private turn = 0;

  constructor(
    urls: Array<{ url: string; weight: number }>,
    private readonly strategy: Balance,
  ) {
    this.replicas = urls.map(({ url, weight }) => ({
      url,
      weight,
      active: 0,
      unhealthyUntil: 0,
      current: 0,
    }));
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
    }
  }

  /** Wraps a session's transport to its replica, keeping the replica's counts true. */
  place(replica: Replica, inner: BackendTransport): BackendTransport {
    replica.active++;
    return new PlacedTransport(replica, inner);
  }
}

class PlacedTransport implements BackendTransport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  private released = false;
  private connected = false;

  constructor(
    private readonly placement: Replica,
    private readonly inner: BackendTransport,
  ) {
    inner.onmessage = (message) => {
      this.connected = true;
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

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
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
