import { isDeepStrictEqual } from 'node:util';
import type { BackendConfig, GatewayConfig } from '../config/schema.js';

/** What a reload changed. */
export interface ReloadResult {
  added: string[];
  removed: string[];
  changed: string[];
  /** Settings that only take effect on restart. */
  ignored: string[];
}

/** Listener settings: the listener and its guard are made once. */
const SERVER_KEYS = [
  'host',
  'port',
  'path',
  'unixSocket',
  'http',
  'sse',
  'websocket',
  'tcp',
  'tls',
  'allowedHosts',
  'allowedOrigins',
  'securityContact',
  'headersTimeoutMs',
  'requestTimeoutMs',
  'keepAliveTimeoutMs',
  'maxConnectionsPerAddress',
] as const;

/**
 * Sections whose parts are built once at start (the rate limiter and its Redis connection, the
 * authenticator, the authorizer, the admin listener, the exporters): a change to them is
 * reported, not silently dropped.
 */
const RESTART_SECTIONS = [
  'limits',
  'rateLimits',
  'redis',
  'admin',
  'tracing',
  'audit',
  'auth',
  'authorization',
  'cache',
] as const;

/*
 * Everything else applies: `log.level`, `server.shutdownTimeoutMs`, `processes.*` (the process cap at once, the rest to
 * processes started from now on), `sessions.*`, `aggregate.*` (for sessions opened from now on),
 * `retries` and `breakers` (read by every request), and the backends, as the diff below says.
 */

export interface ReloadPlan {
  result: ReloadResult;
  /** Backends to start, by name, in configuration order. */
  start: Map<string, BackendConfig>;
  /** Backends to drain and end (removed, or changed and so replaced). */
  stop: string[];
}

/** What going from `current` to `next` means, given the backends running now. */
export function planReload(
  current: Readonly<GatewayConfig>,
  next: Readonly<GatewayConfig>,
  running: ReadonlyMap<string, Readonly<BackendConfig>>,
): ReloadPlan {
  const result: ReloadResult = { added: [], removed: [], changed: [], ignored: [] };
  for (const key of SERVER_KEYS) {
    if (!isDeepStrictEqual(next.server[key], current.server[key]))
      result.ignored.push(`server.${key}`);
  }
  for (const key of RESTART_SECTIONS) {
    if (!isDeepStrictEqual(next[key], current[key])) result.ignored.push(key);
  }
  if (next.log.file !== current.log.file) result.ignored.push('log.file');
  if (next.log.format !== current.log.format) result.ignored.push('log.format');
  const wanted = new Map(Object.entries(next.backends).filter(([, b]) => b.enabled));
  const stop: string[] = [];
  for (const [name, config] of running) {
    const replacement = wanted.get(name);
    if (replacement && isDeepStrictEqual(replacement, config)) continue;
    stop.push(name);
    (replacement ? result.changed : result.removed).push(name);
  }
  const start = new Map<string, BackendConfig>();
  for (const [name, config] of wanted) {
    if (running.has(name) && !stop.includes(name)) continue;
    start.set(name, config);
    if (!result.changed.includes(name)) result.added.push(name);
  }
  return { result, start, stop };
}
