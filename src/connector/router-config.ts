import { homedir } from 'node:os';
import { join } from 'node:path';
import { splitCommandLine } from '../config/command-line.js';
import { SEED_004_KEYS, isSeed004 } from '../config/import/seed-004.js';
import type { ConversionResult, DroppedKey } from '../config/import/shared.js';
import { dropRest, isPlain, logLevel } from '../config/import/shared.js';

/*
 * Seed 004's router file (`~/.config/claude-cli/mcp-router.yaml`) as the connector's config: the
 * router is what `mcp-bridge connect` replaces, so its gateway becomes `remote` (its other
 * endpoints the `fallbacks`, in the order `protocol_preference` gives), its auth and TLS the
 * remote's, `reconnect` the backoff, `local` the queue, `metrics` and `logging` ours. A lone
 * direct server without a gateway becomes `direct`. `mcp-bridge import` converts the same file
 * for a gateway (`--serve stdio`) instead.
 */

type Plain = Record<string, unknown>;
type Drop = (key: string, reason: string) => void;

/** Whether a connector config file is in seed 004's router format rather than ours. */
export function isRouterConfig(doc: unknown): doc is Plain {
  return isPlain(doc) && isSeed004(doc);
}

/** `~/x` as the seed wrote it, made absolute. */
function home(path: string): string {
  return path === '~' ? homedir() : path.startsWith('~/') ? join(homedir(), path.slice(2)) : path;
}

/** The seed's `tcp+tls://` is our `tcps://`; other schemes stay as they are. */
function gatewayUrl(url: string): string {
  return url.replace(/^tcp\+tls:/i, 'tcps:');
}

const scheme = (url: string) => url.slice(0, url.indexOf(':')).toLowerCase();

/** Seed 004's router file converted to the connector's config (docs/migrating.md). */
export function convertRouterConfig(doc: Plain): ConversionResult {
  const dropped: DroppedKey[] = [];
  const notes: string[] = [];
  const drop: Drop = (key, reason) => dropped.push({ key, reason });
  const config: Plain = {};
  const gatewayKey = isPlain(doc.gateway_pool) ? 'gateway_pool' : 'gateway';
  const gateway = isPlain(doc[gatewayKey]) ? (doc[gatewayKey] as Plain) : undefined;
  const remotes = gateway ? convertGateway(gateway, gatewayKey, config, drop) : [];
  if (remotes.length > 0) {
    config.remote = remotes[0];
    if (remotes.length > 1) config.fallbacks = remotes.slice(1);
  }
  if (Array.isArray(doc.servers))
    convertServers(doc.servers, remotes.length > 0, config, drop, notes);
  if (doc.direct_clients !== undefined)
    drop(
      'direct_clients',
      'pooling, memory and auto-detection tuning of the router; the connector keeps one link per client session, and detects Streamable HTTP or SSE itself',
    );
  if (isPlain(doc.local)) {
    const local = doc.local;
    const queue: Plain = {};
    if (typeof local.max_queued_requests === 'number') queue.size = local.max_queued_requests;
    if (typeof local.request_timeout_ms === 'number') {
      queue.waitMs = local.request_timeout_ms;
      notes.push(
        'local.request_timeout_ms bounds how long a request waits for the link (queue.waitMs); a request the remote is running is not cut short',
      );
    }
    if (Object.keys(queue).length > 0) config.queue = queue;
    const reasons: Readonly<Record<string, string>> = {
      max_concurrent_requests:
        'the connector carries every request the client makes; the gateway limits concurrency',
      rate_limit:
        "a limit on one desktop client's own requests; mcp-bridge limits on the gateway (rateLimits)",
    };
    dropRest(
      dropped,
      'local.',
      local,
      ['max_queued_requests', 'request_timeout_ms'],
      (key) => reasons[key] ?? 'not a setting the connector has',
    );
  }
  if (isPlain(doc.logging)) {
    const level = logLevel(doc.logging.level);
    if (level) config.logLevel = level;
    else if (doc.logging.level !== undefined)
      drop('logging.level', `"${String(doc.logging.level)}" is not a log level`);
    const { format, output } = doc.logging;
    if (format !== undefined && format !== 'json')
      drop('logging.format', 'the connector logs JSON lines (pipe them to pino-pretty to read)');
    if (output !== undefined && output !== 'stderr')
      drop('logging.output', 'the connector logs to stderr: stdout carries MCP');
    dropRest(
      dropped,
      'logging.',
      doc.logging,
      ['level', 'format', 'output'],
      () => 'no such log setting',
    );
  }
  if (isPlain(doc.metrics)) {
    const metrics: Plain = { enabled: doc.metrics.enabled !== false };
    const endpoint =
      typeof doc.metrics.endpoint === 'string' ? /^(.*):(\d+)$/.exec(doc.metrics.endpoint) : null;
    if (endpoint) {
      metrics.host = endpoint[1] === 'localhost' || endpoint[1] === '' ? '127.0.0.1' : endpoint[1];
      metrics.port = Number(endpoint[2]);
    } else if (doc.metrics.endpoint !== undefined)
      drop('metrics.endpoint', 'expected host:port; the default 127.0.0.1:9091 is used');
    config.metrics = metrics;
    dropRest(
      dropped,
      'metrics.',
      doc.metrics,
      ['enabled', 'endpoint'],
      () => 'metrics are served at /metrics and /health on metrics.host:metrics.port',
    );
  }
  dropRest(dropped, '', doc, SEED_004_KEYS, () => 'not a setting the connector has');
  return {
    seed: '004',
    format: 'seed 004 router config (mcp-router.yaml)',
    config,
    dropped,
    notes,
  };
}

/** The gateway's endpoints as remotes, preferred first, each with the gateway's auth and TLS. */
function convertGateway(gateway: Plain, at: string, config: Plain, drop: Drop): Plain[] {
  let urls: string[] = [];
  if (typeof gateway.url === 'string') urls.push(gatewayUrl(gateway.url));
  if (Array.isArray(gateway.endpoints))
    gateway.endpoints.forEach((e: unknown, i) => {
      const url = isPlain(e) ? e.url : e;
      if (typeof url === 'string') urls.push(gatewayUrl(url));
      else drop(`${at}.endpoints[${i}]`, 'expected {url}');
    });
  const preference = gateway.protocol_preference;
  if (preference === 'tcp' || preference === 'websocket') {
    const wanted = (url: string) => (preference === 'tcp' ? /^tcps?$/ : /^wss?$/).test(scheme(url));
    urls = [...urls.filter(wanted), ...urls.filter((u) => !wanted(u))];
  } else if (preference !== undefined)
    drop(`${at}.protocol_preference`, `"${String(preference)}": expected websocket or tcp`);
  urls = urls.filter((url) => {
    if (/^(wss?|tcps?|https?)$/.test(scheme(url))) return true;
    drop(`${at} (${url})`, 'not a ws(s)://, tcp(s):// or http(s):// URL');
    return false;
  });
  if (urls.length === 0) {
    drop(at, 'no gateway URL (url or endpoints[].url)');
    return [];
  }
  const shared: Plain = {};
  const auth = isPlain(gateway.auth) ? convertAuth(gateway.auth, `${at}.auth`, drop) : undefined;
  if (auth?.auth) shared.auth = auth.auth;
  const tls: Plain = { ...auth?.tls };
  if (isPlain(gateway.tls)) {
    const given = gateway.tls;
    if (typeof given.ca_cert_path === 'string') tls.ca = home(given.ca_cert_path);
    if (given.verify === false)
      drop(
        `${at}.tls.verify`,
        'certificates are always verified; trust a private CA with ca_cert_path (tls.ca)',
      );
    const reasons: Readonly<Record<string, string>> = {
      min_version: "Node's defaults (TLS 1.2 and 1.3) are used; a TLS 1.3 gateway gets TLS 1.3",
      cipher_suites: "Node's default cipher suites are used (TLS 1.3's are all enabled)",
    };
    for (const key of Object.keys(given))
      if (!['ca_cert_path', 'verify'].includes(key))
        drop(`${at}.tls.${key}`, reasons[key] ?? 'not a TLS setting the connector has');
  }
  if (Object.keys(tls).length > 0) shared.tls = tls;
  if (isPlain(gateway.connection)) convertConnection(gateway.connection, at, config, drop);
  const reasons: Readonly<Record<string, string>> = {
    auto_select:
      'the endpoints are tried in order (protocol_preference first), each after the last failed',
  };
  for (const key of Object.keys(gateway))
    if (!['url', 'endpoints', 'auth', 'tls', 'connection', 'protocol_preference'].includes(key))
      drop(`${at}.${key}`, reasons[key] ?? 'not a setting the connector has');
  // The router speaks the envelope dialect over WebSocket, a token in every message.
  return urls.map((url) => ({
    url,
    ...(/^wss?$/.test(scheme(url)) && { transport: 'websocket-envelope' }),
    ...shared,
  }));
}

function convertAuth(
  auth: Plain,
  at: string,
  drop: Drop,
): { auth?: Plain; tls?: Plain } | undefined {
  const type = auth.type ?? 'bearer';
  const used: string[] = ['type'];
  let result: { auth?: Plain; tls?: Plain } | undefined;
  const secret = (env: string, key: string, file?: string): Plain | undefined => {
    if (typeof auth[key] === 'string') return { key: auth[key] };
    if (typeof auth[env] === 'string') return { env: auth[env] };
    if (file && typeof auth[file] === 'string') return { file: home(auth[file] as string) };
    return undefined;
  };
  if (type === 'bearer') {
    used.push('token_secure_key', 'token_env', 'token_file');
    const token = secret('token_env', 'token_secure_key', 'token_file');
    if (token) result = { auth: { type: 'bearer', token } };
    else drop(at, 'a bearer token needs token_secure_key, token_env or token_file');
  } else if (type === 'mtls') {
    used.push('client_cert', 'client_key');
    if (typeof auth.client_cert === 'string' && typeof auth.client_key === 'string')
      result = { tls: { cert: home(auth.client_cert), key: home(auth.client_key) } };
    else drop(at, 'mtls needs client_cert and client_key');
  } else if (type === 'oauth2') {
    used.push(
      'client_id',
      'client_secret_secure_key',
      'client_secret_env',
      'token_endpoint',
      'grant_type',
      'scopes',
    );
    const clientSecret = secret('client_secret_env', 'client_secret_secure_key');
    const grant = auth.grant_type ?? 'client_credentials';
    if (grant !== 'client_credentials') {
      used.push('username', 'password_secure_key', 'password_env');
      drop(
        `${at}.grant_type`,
        `"${String(grant)}": only client_credentials is supported (the password grant is deprecated by OAuth 2.1); the remote is reached without credentials`,
      );
    } else if (
      typeof auth.client_id !== 'string' ||
      typeof auth.token_endpoint !== 'string' ||
      !clientSecret
    ) {
      drop(
        at,
        'oauth2 needs client_id, token_endpoint and client_secret_secure_key or client_secret_env',
      );
    } else {
      const scopes = Array.isArray(auth.scopes) ? auth.scopes.map(String).join(' ') : auth.scopes;
      result = {
        auth: {
          type: 'oauth-client-credentials',
          tokenUrl: auth.token_endpoint,
          clientId: auth.client_id,
          clientSecret,
          ...(typeof scopes === 'string' && scopes !== '' && { scope: scopes }),
          // The router sends the secret in the form.
          clientAuth: 'body',
        },
      };
    }
  } else {
    drop(`${at}.type`, `"${String(type)}": expected bearer, mtls or oauth2`);
  }
  for (const key of Object.keys(auth))
    if (!used.includes(key)) drop(`${at}.${key}`, `not a setting of ${String(type)} auth`);
  return result;
}

function convertConnection(connection: Plain, at: string, config: Plain, drop: Drop): void {
  const prefix = `${at}.connection`;
  if (typeof connection.timeout_ms === 'number') config.connectTimeoutMs = connection.timeout_ms;
  const reconnect = isPlain(connection.reconnect) ? connection.reconnect : undefined;
  if (reconnect) {
    const backoff: Plain = {};
    if (typeof reconnect.initial_delay_ms === 'number')
      backoff.initialMs = reconnect.initial_delay_ms;
    if (typeof reconnect.max_delay_ms === 'number') backoff.maxMs = reconnect.max_delay_ms;
    if (Object.keys(backoff).length > 0) config.backoff = backoff;
    const reasons: Readonly<Record<string, string>> = {
      multiplier: 'the delay ceiling doubles each attempt',
      jitter: 'full jitter: each delay is random up to its ceiling',
      max_attempts:
        'the connector never gives up while the client is there; requests waiting longer than queue.waitMs fail',
    };
    for (const key of Object.keys(reconnect)) {
      if (['initial_delay_ms', 'max_delay_ms'].includes(key)) continue;
      if (key === 'multiplier' && reconnect.multiplier === 2) continue;
      drop(`${prefix}.reconnect.${key}`, reasons[key] ?? 'not a reconnection setting');
    }
  }
  const reasons: Readonly<Record<string, string>> = {
    keepalive_interval_ms:
      'WebSocket and TCP links are kept alive on a fixed interval; a dead one is noticed and reconnected',
    pool: 'one link carries the client session (its requests multiplexed by id); there is no pool',
  };
  for (const key of Object.keys(connection))
    if (!['timeout_ms', 'reconnect'].includes(key))
      drop(`${prefix}.${key}`, reasons[key] ?? 'not a connection setting');
}

/** Direct servers: without a gateway, the first becomes `direct` (a command) or `remote` (a URL). */
function convertServers(
  servers: unknown[],
  hasGateway: boolean,
  config: Plain,
  drop: Drop,
  notes: string[],
): void {
  servers.forEach((server: unknown, i) => {
    const at = `servers[${i}]`;
    if (!isPlain(server)) return drop(at, 'expected {name, connection_mode, candidates}');
    if (server.connection_mode !== undefined && server.connection_mode !== 'direct') return;
    const candidates: string[] = Array.isArray(server.candidates)
      ? server.candidates.map(String)
      : Array.isArray(server.command)
        ? [server.command.map((w) => JSON.stringify(String(w))).join(' ')]
        : typeof server.command === 'string'
          ? [server.command]
          : typeof server.url === 'string'
            ? [server.url]
            : [];
    const taken = !hasGateway && i === 0 && config.remote === undefined;
    if (!taken || candidates.length === 0) {
      return drop(
        at,
        candidates.length === 0
          ? 'no candidates (a command or a URL)'
          : 'a connector runs one server or one remote: give this one its own entry in the desktop client (mcp-bridge connect --direct "<command>", or connect <URL>)',
      );
    }
    const urls = candidates.filter((c) => /^(wss?|https?|tcps?):\/\//i.test(c));
    const commands = candidates.filter((c) => !urls.includes(c));
    if (commands.length > 0) {
      try {
        const { command, args } = splitCommandLine(commands[0]!);
        config.direct = { command, args };
      } catch (error) {
        return drop(`${at}.candidates (${commands[0]})`, (error as Error).message);
      }
      for (const other of [...commands.slice(1), ...urls])
        drop(
          `${at}.candidates (${other})`,
          'direct mode runs its one command; the other candidates are not tried',
        );
    } else {
      config.remote = { url: urls[0] };
      if (urls.length > 1) config.fallbacks = urls.slice(1).map((url) => ({ url }));
      notes.push(`${at}: its URL candidates are tried in order (remote, then fallbacks)`);
    }
    if (server.fallback !== undefined)
      drop(`${at}.fallback`, 'there is no gateway in this file to fall back to');
    for (const key of Object.keys(server))
      if (
        ![
          'name',
          'connection_mode',
          'auto_detect',
          'candidates',
          'command',
          'url',
          'fallback',
        ].includes(key)
      )
        drop(`${at}.${key}`, 'not a server setting the connector has');
  });
}
