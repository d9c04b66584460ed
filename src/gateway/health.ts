import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Logger } from '../core/logger.js';
import { channels } from '../core/diagnostics.js';
import type { BackendState } from '../core/diagnostics.js';
import type { Backend } from '../backends/backend.js';
import { version } from '../version.js';
import { GatewayError } from '../core/errors.js';

export type HealthState = BackendState['state'];

export interface Backoff {
  /** The delay after the first failed start; doubled after each, with ±20% jitter. */
  baseMs: number;
  maxMs: number;
}

/**
 * What the gateway knows of one backend's health, from its sessions and probes. It also keeps
 * the backend's crash accounting across sessions: a session whose backend dies before the
 * handshake completes is a failed start, and after one the backend is `failing`: new sessions
 * are refused, with when to come back, until its backoff has passed; a completed handshake ends
 * the loop. So a backend that exits at start is not respawned by every new session.
 */
export class Health {
  state: HealthState = 'unknown';
  restarts = 0;
  lastError: string | undefined;
  lastChange: number | undefined;
  /** Failed starts in a row; 0 once a handshake completes. */
  failuresInARow = 0;
  private retryAt = 0;

  constructor(private readonly backend: string) {}

  /** A session's backend died before its handshake completed. */
  failedStart(reason: string, backoff: Backoff): void {
    this.failuresInARow++;
    this.restarts++;
    const base = Math.min(backoff.maxMs, backoff.baseMs * 2 ** (this.failuresInARow - 1));
    this.retryAt = Date.now() + Math.round(base * (0.8 + Math.random() * 0.4));
    this.mark('failing', reason);
  }

  /** A session's handshake completed: whatever loop there was has ended. */
  started(): void {
    this.failuresInARow = 0;
    this.retryAt = 0;
    this.mark('up');
  }

  /** Refuses a new session while the backend is backing off after failed starts. */
  admit(): void {
    const wait = this.retryAt - Date.now();
    if (wait <= 0) return;
    const retryAfter = Math.ceil(wait / 1000);
    throw new GatewayError(
      'GATEWAY_BACKEND_UNAVAILABLE',
      `${this.backend} is failing: ${this.failuresInARow} failed start${this.failuresInARow === 1 ? '' : 's'} in a row (last: ${this.lastError ?? 'unknown'}); next try in ${retryAfter} s`,
      { data: { retryAfter } },
    );
  }

  /** Records a state (and why, for a failure); publishes the change when there is one. */
  mark(state: HealthState, error?: string): void {
    if (error !== undefined) this.lastError = error;
    if (this.state === state) return;
    this.lastChange = Date.now();
    this.state = state;
    if (channels.backendState.hasSubscribers)
      channels.backendState.publish({ backend: this.backend, state, restarts: this.restarts });
  }
}

/**
 * Connects, initializes, pings and disconnects, to learn whether a backend answers: the SDK's own
 * client does the handshake and the correlation, as any client of the backend would.
 */
export async function probe(
  name: string,
  backend: Backend,
  health: Health,
  timeoutMs: number,
  log: Logger,
): Promise<void> {
  const client = new Client({ name: 'mcp-bridge-health', version }, { capabilities: {} });
  const transport = backend.connect(log.child({ probe: name }));
  try {
    await client.connect(transport, { timeout: timeoutMs });
    await client.ping({ timeout: timeoutMs });
    health.mark('up');
  } catch (error) {
    health.mark('down', error instanceof Error ? error.message : String(error));
  } finally {
    await client.close().catch(() => {});
  }
}
