import { splitCommandLine } from '../command-line.js';
import type { ConversionResult, DroppedKey } from './shared.js';
import { backendName, dropRest, isPlain, logSection, ordered, transportOfUrl } from './shared.js';

/*
 * Seed 004 (a Go router a desktop client runs as its stdio server): `mcp-router.yaml` with
 * `direct_clients`, `servers: [{name, connection_mode, candidates, fallback}]`, a `gateway` (or
 * `gateway_pool`) with endpoints and auth, `local`, `logging`, `metrics`. The gateway becomes a
 * remote backend and each direct server a backend of its own; the result is run with
 * `--serve stdio`. Seed 002's router file is the same format in short (`gateway.url`, `servers`
 * with `command: [...]`).
 */

type Plain = Record<string, unknown>;

/** Whether the file has seed 004's shape. */
export function isSeed004(doc: Plain): boolean {
  return (
    'direct_clients' in doc ||
    'gateway_pool' in doc ||
    (Array.isArray(doc.servers) && doc.servers.some((s) => isPlain(s) && 'connection_mode' in s)) ||
    (isPlain(doc.gateway) &&
      ('endpoints' in doc.gateway || 'url' in doc.gateway) &&
      !('backends' in doc))
  );
}

/** The top-level keys of the seed's router file; any other is named as not carried. */
export const SEED_004_KEYS: readonly string[] = [
  'version',
  'gateway',
  'gateway_pool',
  'servers',
  'direct_clients',
  'local',
  'logging',
  'metrics',
];

export function convertSeed004(doc: Plain): ConversionResult {
  const dropped: DroppedKey[] = [];
  const notes = [
    'the router runs inside a desktop client: start the result with mcp-bridge --config <file> --serve stdio, or give the router file itself to "mcp-bridge connect --config" (the connector: reconnection, queueing, the gateway\'s auth; "mcp-bridge connect import" shows its conversion)',
  ];
  const drop = (key: string, reason: string) => dropped.push({ key, reason });
  const backends: Plain = {};
  const config: Plain = { backends };
  const local = isPlain(doc.local) ? doc.local : {};
  const timeoutMs =
    typeof local.request_timeout_ms === 'number' ? local.request_timeout_ms : undefined;

  const gatewayKey = isPlain(doc.gateway_pool) ? 'gateway_pool' : 'gateway';
  const gateway = isPlain(doc[gatewayKey]) ? (doc[gatewayKey] as Plain) : undefined;
  if (gateway) {
    const backend = convertGateway(gateway, gatewayKey, drop);
    if (backend)
      backends.gateway = { ...backend, ...(timeoutMs !== undefined ? { timeoutMs } : {}) };
  }
  if (Array.isArray(doc.servers)) {
    doc.servers.forEach((raw: unknown, i) => {
      const at = `servers[${i}]`;
      if (!isPlain(raw) || typeof raw.name !== 'string') {
        drop(at, 'expected {name, connection_mode, candidates}');
        return;
      }
      const backend = convertServer(raw, at, drop);
      if (backend)
        backends[backendName(raw.name)] = {
          ...backend,
          ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        };
    });
  }
  if (doc.direct_clients !== undefined)
    drop(
      'direct_clients',
      'pooling, memory and auto-detection tuning of the router; mcp-bridge connects each backend directly and detects the HTTP transport itself',
    );
  if (isPlain(doc.logging)) {
    config.log = logSection(doc.logging, dropped, (key) =>
      key === 'output' ? 'logs always go to stderr (or log.file)' : 'no such log setting',
    );
  }
  if (isPlain(doc.metrics)) {
    const admin: Plain = { enabled: doc.metrics.enabled !== false };
    const endpoint =
      typeof doc.metrics.endpoint === 'string' ? /^(.*):(\d+)$/.exec(doc.metrics.endpoint) : null;
    if (endpoint) {
      admin.host = endpoint[1] === 'localhost' ? '127.0.0.1' : endpoint[1];
      admin.port = Number(endpoint[2]);
    }
    config.admin = admin;
    dropRest(
      dropped,
      'metrics.',
      doc.metrics,
      ['enabled', 'endpoint'],
      () => 'metrics are served at /metrics on the admin port',
    );
  }
  if (isPlain(doc.local)) {
    const reasons: Readonly<Record<string, string>> = {
      max_queued_requests:
        'the gateway does not queue; "mcp-bridge connect <URL>" queues across outages (docs/connector.md)',
      rate_limit:
        "a limit on one desktop client's own requests; mcp-bridge limits on the serving side (rateLimits)",
    };
    dropRest(
      dropped,
      'local.',
      doc.local,
      ['request_timeout_ms'],
      (key) => reasons[key] ?? 'not a setting mcp-bridge has',
    );
  }
  dropRest(dropped, '', doc, SEED_004_KEYS, () => 'not a setting mcp-bridge has');
  return {
    seed: '004',
    format: 'seed 004 router config (mcp-router.yaml)',
    config: ordered(config),
    dropped,
    notes,
  };
}

type Drop = (key: string, reason: string) => void;

function convertGateway(gateway: Plain, at: string, drop: Drop): Plain | undefined {
  const urls: string[] = [];
  if (typeof gateway.url === 'string') urls.push(gateway.url);
  if (Array.isArray(gateway.endpoints)) {
    for (const e of gateway.endpoints) {
      if (isPlain(e) && typeof e.url === 'string') urls.push(e.url);
      else if (typeof e === 'string') urls.push(e);
    }
  }
  if (urls.length === 0)
    return void drop(at, 'no gateway URL (url or endpoints[].url); the gateway is left out');
  // The first URL's transport is the backend's; others of the same scheme are replicas. One of
  // another scheme is the seed's fallback (used only when the others fail), which a balancer
  // that shares sessions among replicas would not honour: it is named, not carried.
  const transport = transportOfUrl(urls[0]!);
  if (!transport)
    return void drop(`${at}.endpoints`, `unsupported URL "${urls[0]}"; the gateway is left out`);
  const backend: Plain = { transport, url: urls[0] };
  const same = urls.slice(1).filter((u) => transportOfUrl(u) === transport);
  if (same.length > 0) backend.replicas = same.map((url) => ({ url }));
  for (const url of urls.slice(1).filter((u) => transportOfUrl(u) !== transport))
    drop(
      `${at}.endpoints (${url})`,
      'a fallback over another transport: replicas share sessions rather than stand by; list it under replicas (any transport) or as its own backend if wanted',
    );
  const auth = isPlain(gateway.auth) ? gateway.auth : undefined;
  if (auth) {
    const bearer = auth.type === 'bearer' || auth.type === undefined;
    if (bearer && typeof auth.token_env === 'string')
      backend.headers = { Authorization: `Bearer \${${auth.token_env}}` };
    else
      drop(
        `${at}.auth`,
        bearer
          ? 'only token_env is converted (a keychain or a token file cannot be read from a config file); use Authorization: "Bearer ${VAR}" in headers'
          : `auth type "${String(auth.type)}" is not converted; see docs/migrating.md`,
      );
    for (const key of Object.keys(auth)) {
      if (!['type', 'token_env'].includes(key))
        drop(`${at}.auth.${key}`, 'not converted (see auth)');
    }
  }
  const reasons: Readonly<Record<string, string>> = {
    connection:
      'reconnection and pooling are the connector\'s ("mcp-bridge connect", docs/connector.md)',
    tls: 'the system CA store is used; add a CA with NODE_EXTRA_CA_CERTS',
    protocol_preference: "the first endpoint's transport is used",
    auto_select: "the first endpoint's transport is used",
  };
  for (const key of Object.keys(gateway)) {
    if (!['url', 'endpoints', 'auth'].includes(key))
      drop(`${at}.${key}`, reasons[key] ?? 'not a setting mcp-bridge has');
  }
  return backend;
}

function convertServer(server: Plain, at: string, drop: Drop): Plain | undefined {
  if (server.connection_mode !== undefined && server.connection_mode !== 'direct') {
    return void drop(
      `${at}.connection_mode`,
      `"${String(server.connection_mode)}": reached through the gateway backend, not a backend of its own`,
    );
  }
  for (const key of Object.keys(server)) {
    if (key === 'fallback') drop(`${at}.fallback`, 'no fallback from one backend to another');
    else if (
      !['name', 'connection_mode', 'candidates', 'command', 'url', 'auto_detect'].includes(key)
    )
      drop(`${at}.${key}`, 'not a backend setting mcp-bridge has');
  }
  // Seed 002's router form: `command: [program, args...]`.
  if (Array.isArray(server.command) && server.command.length > 0) {
    const [command, ...args] = server.command.map(String);
    return { command, args };
  }
  const candidates: string[] = Array.isArray(server.candidates)
    ? server.candidates.map(String)
    : typeof server.command === 'string'
      ? [server.command]
      : typeof server.url === 'string'
        ? [server.url]
        : [];
  const [first, ...rest] = candidates;
  if (first === undefined)
    return void drop(at, 'no candidates (a command or a URL); the server is left out');
  for (const other of rest)
    drop(
      `${at}.candidates (${other})`,
      'only the first candidate is used: a backend has one way to reach it',
    );
  const transport = transportOfUrl(first);
  if (transport) return { transport, url: first };
  try {
    const { command, args } = splitCommandLine(first);
    return { command, args };
  } catch (error) {
    return void drop(`${at}.candidates[0]`, `${(error as Error).message}; the server is left out`);
  }
}
