import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Logger } from '../core/logger.js';
import { channels } from '../core/diagnostics.js';
import type { BackendState } from '../core/diagnostics.js';
import type { Backend } from '../backends/backend.js';
import { version } from '../version.js';

export type HealthState = BackendState['state'];

/** What the gateway knows of one backend's health, from its sessions and probes. */
export class Health {
  state: HealthState = 'unknown';
  restarts = 0;
  lastError: string | undefined;
  lastChange: number | undefined;

  constructor(private readonly backend: string) {}

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
