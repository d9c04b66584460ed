import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { GatewayError } from '../core/errors.js';

/**
 * A connection to a backend, as every backend kind hands it to the gateway: the SDK's Transport
 * contract plus what the gateway asks of it. Declared here so that nothing reaches for these
 * through casts.
 */
export interface BackendTransport extends Transport {
  /** The process serving this connection, for stdio backends (a shared one's, for its channels). */
  readonly pid?: number | undefined;
  /** The replica URL the connection was placed on, for remote backends with replicas. */
  readonly replica?: string | undefined;
  /** Why the connection can carry no more messages: what its requests in flight fail with. */
  unavailable(): GatewayError;
}
