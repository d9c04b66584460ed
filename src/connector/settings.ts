import { createLogger } from '../core/logger.js';
import { ConfigError } from '../config/schema.js';
import type { ConnectorOptions } from './connector.js';
import type { ConnectorConfig, LogLevel, RemoteConfig } from './config-schema.js';
import { credentialsFor, tlsFor } from './config.js';
import type { RemoteTarget } from './link-targets.js';
import { transportsFor } from './remote-link.js';
import type { SecretStore } from './secrets.js';

/* From a checked connector config to what the connector runs with. */

/** A misused `connect` flag or config: the message names it, one problem a line. */
export class ConnectFlagError extends Error {
  override readonly name = 'ConnectFlagError';
}

/** What `connect`'s flags and config say, checked; everything but the client's streams. */
export type ConnectSettings = Omit<ConnectorOptions, 'client'> & {
  logLevel: LogLevel;
  /** Prometheus metrics of the connector, when enabled. */
  metrics?: { host: string; port: number };
};

/** What the connector runs with, from a checked config: secrets read, PEM files loaded. */
export function settingsFrom(
  config: Readonly<ConnectorConfig>,
  env: NodeJS.ProcessEnv,
  store: SecretStore,
): ConnectSettings {
  const log = createLogger({ level: config.logLevel, destination: 2 });
  const remote = (at: string, given: RemoteConfig): RemoteTarget => {
    const tls = tlsFor(given, env, store, at);
    return {
      url: given.url,
      transport: given.transport ?? transportsFor(new URL(given.url)).auto,
      credentials: credentialsFor(given, env, store, log, at),
      ...(tls && { tls }),
    };
  };
  let primary: RemoteTarget | undefined;
  let fallbacks: RemoteTarget[];
  try {
    primary = config.remote && remote('remote', config.remote);
    fallbacks = config.fallbacks.map((given, i) => remote(`fallbacks[${i}]`, given));
  } catch (error) {
    if (error instanceof ConfigError) throw new ConnectFlagError(error.problems.join('\n'));
    throw error;
  }
  return {
    ...(primary ?? { url: '' }),
    ...(config.direct && { direct: config.direct }),
    ...(fallbacks.length > 0 && { fallbacks }),
    queue: { maxSize: config.queue.size, maxWaitMs: config.queue.waitMs },
    backoff: { initialMs: config.backoff.initialMs, maxMs: config.backoff.maxMs },
    connectTimeoutMs: config.connectTimeoutMs,
    statusFile: config.statusFile,
    maxMessageBytes: config.maxMessageBytes,
    log,
    logLevel: config.logLevel,
    ...(config.metrics.enabled && {
      metrics: { host: config.metrics.host, port: config.metrics.port },
    }),
  };
}
