import type { ConversionResult, DroppedKey } from './shared.js';
import { backendName, dropRest, durationMs, isPlain, logSection, ordered } from './shared.js';

/*
 * Seed 003 (a Go gateway): `version: 1`, `server` (ports, `protocol`, `tcp_port`,
 * `stdio_frontend.modes`, origins, TLS), `auth.jwt`, `routing`, `backends: [{name, protocol,
 * config}]`, `service_discovery`, `rate_limit`, `circuit_breaker`, `redis`, `tracing`, `logging`.
 */

type Plain = Record<string, unknown>;

/** Whether the file has seed 003's shape: `version` with a backends list or its server keys. */
export function isSeed003(doc: Plain): boolean {
  if (!('version' in doc) || 'direct_clients' in doc || 'servers' in doc) return false;
  const server = isPlain(doc.server) ? doc.server : {};
  return (
    Array.isArray(doc.backends) ||
    'service_discovery' in doc ||
    'routing' in doc ||
    'protocol' in server ||
    'tcp_port' in server ||
    'stdio_frontend' in server
  );
}

const MiB = 1024 * 1024;

const STRATEGIES: Readonly<Record<string, string>> = {
  least_connections: 'least-connections',
  round_robin: 'round-robin',
  weighted: 'weighted',
};

export function convertSeed003(doc: Plain): ConversionResult {
  const dropped: DroppedKey[] = [];
  const notes: string[] = [];
  const config: Plain = {};
  const drop = (key: string, reason: string) => dropped.push({ key, reason });
  const balance = convertRouting(doc.routing, config, drop);
  config.server = convertServer(isPlain(doc.server) ? doc.server : {}, config, drop, notes);
  // The seed's own request size limits (its README: HTTP 1 MB, WebSocket 10 MB, TCP 10 MB, the
  // last being our default frame limit): ours are larger by default, so its users keep its.
  config.limits = { http: { maxMessageBytes: MiB }, websocket: { maxMessageBytes: 10 * MiB } };
  if (isPlain(doc.auth)) config.auth = convertAuth(doc.auth, drop, notes);
  config.backends = convertBackends(doc.backends, balance, drop);
  if (doc.service_discovery !== undefined) {
    drop(
      'service_discovery',
      'mcp-bridge discovers the replicas of a named backend (backends.<name>.discovery: kubernetes, consul, dns, file, static), not new backends; add one backend per service with its discovery',
    );
  }
  if (isPlain(doc.rate_limit)) {
    const limit = doc.rate_limit;
    config.rateLimits = { enabled: limit.enabled === true };
    const period = durationMs(limit.window_size);
    if (period !== undefined) (config.rateLimits as Plain).periodMs = period;
    dropRest(dropped, 'rate_limit.', limit, ['enabled', 'window_size'], (key) =>
      key === 'provider'
        ? 'the limiter uses Redis whenever redis.url is set, in memory otherwise'
        : 'no such rate-limit setting',
    );
  }
  if (isPlain(doc.circuit_breaker)) {
    const breaker = doc.circuit_breaker;
    const breakers: Plain = {};
    if (typeof breaker.enabled === 'boolean') breakers.enabled = breaker.enabled;
    if (typeof breaker.threshold === 'number') breakers.failureThreshold = breaker.threshold;
    const open = durationMs(breaker.timeout);
    if (open !== undefined) breakers.openMs = open;
    config.breakers = { ...(config.breakers as Plain | undefined), ...breakers };
    dropRest(
      dropped,
      'circuit_breaker.',
      breaker,
      ['enabled', 'threshold', 'timeout'],
      () => 'no such breaker setting',
    );
  }
  if (isPlain(doc.redis)) {
    if (typeof doc.redis.url === 'string') config.redis = { url: doc.redis.url };
    dropRest(dropped, 'redis.', doc.redis, ['url'], (key) =>
      key === 'password'
        ? 'put the password in redis.url (redis://:password@host) or REDIS_PASSWORD'
        : 'no such Redis setting',
    );
  }
  if (isPlain(doc.tracing)) {
    const tracing: Plain = { enabled: doc.tracing.enabled === true };
    if (typeof doc.tracing.service_name === 'string')
      tracing.serviceName = doc.tracing.service_name;
    config.tracing = tracing;
    dropRest(
      dropped,
      'tracing.',
      doc.tracing,
      ['enabled', 'service_name'],
      () =>
        'mcp-bridge exports OTLP over HTTP (OTEL_EXPORTER_OTLP_ENDPOINT), not to a Jaeger agent',
    );
  }
  if (isPlain(doc.logging))
    config.log = logSection(doc.logging, dropped, () => 'no such log setting');
  dropRest(
    dropped,
    '',
    doc,
    [
      'version',
      'server',
      'auth',
      'routing',
      'backends',
      'service_discovery',
      'rate_limit',
      'circuit_breaker',
      'redis',
      'tracing',
      'logging',
    ],
    (key) =>
      key === 'sessions'
        ? 'sessions are kept in memory, or in Redis with cluster.enabled (docs/scaling.md)'
        : 'not a setting mcp-bridge has',
  );
  return {
    seed: '003',
    format: 'seed 003 gateway config (version: 1)',
    config: ordered(config),
    dropped,
    notes,
  };
}

type Drop = (key: string, reason: string) => void;

function convertRouting(routing: unknown, config: Plain, drop: Drop): string | undefined {
  if (!isPlain(routing)) return undefined;
  const balance = typeof routing.strategy === 'string' ? STRATEGIES[routing.strategy] : undefined;
  if (routing.strategy !== undefined && !balance)
    drop(
      'routing.strategy',
      `no balance "${String(routing.strategy)}"; mcp-bridge has least_connections, round_robin and weighted`,
    );
  if (isPlain(routing.circuit_breaker)) {
    const cb = routing.circuit_breaker;
    const breakers: Plain = {};
    if (typeof cb.failure_threshold === 'number') breakers.failureThreshold = cb.failure_threshold;
    if (typeof cb.success_threshold === 'number') breakers.successThreshold = cb.success_threshold;
    const open = durationMs(cb.timeout ?? cb.timeout_seconds);
    if (open !== undefined) breakers.openMs = open;
    config.breakers = breakers;
  }
  const interval = durationMs(routing.health_check_interval);
  if (interval !== undefined) config.processes = { healthCheckIntervalMs: interval };
  for (const key of Object.keys(routing)) {
    if (!['strategy', 'circuit_breaker', 'health_check_interval'].includes(key))
      drop(`routing.${key}`, 'no such routing setting');
  }
  return balance;
}

function convertServer(server: Plain, config: Plain, drop: Drop, notes: string[]): Plain {
  const out: Plain = {};
  if (typeof server.host === 'string') out.host = server.host;
  if (typeof server.port === 'number') out.port = server.port;
  if (typeof server.metrics_port === 'number') config.admin = { port: server.metrics_port };
  if (typeof server.max_connections_per_ip === 'number')
    out.maxConnectionsPerAddress = server.max_connections_per_ip;
  if (Array.isArray(server.allowed_origins))
    out.allowedOrigins = server.allowed_origins.map(String);
  const protocol = server.protocol ?? 'websocket';
  if (protocol !== 'websocket') {
    out.tcp = {
      enabled: true,
      ...(typeof server.tcp_port === 'number' ? { port: server.tcp_port } : {}),
      ...(typeof server.tcp_health_port === 'number' ? { healthPort: server.tcp_health_port } : {}),
    };
    if (protocol === 'tcp')
      notes.push(
        'server.protocol is tcp: the HTTP port (Streamable HTTP, SSE and WebSocket) is served too',
      );
  }
  if (isPlain(server.stdio_frontend) && server.stdio_frontend.enabled !== false) {
    const modes = Array.isArray(server.stdio_frontend.modes) ? server.stdio_frontend.modes : [];
    modes.forEach((mode: unknown, i) => {
      if (!isPlain(mode) || mode.enabled === false) return;
      if (mode.type === 'unix_socket' && typeof mode.path === 'string') out.unixSocket = mode.path;
      else if (mode.type === 'stdin_stdout')
        drop(
          `server.stdio_frontend.modes[${i}]`,
          'a stdio session is a way of running: mcp-bridge --config <file> --serve stdio',
        );
      else drop(`server.stdio_frontend.modes[${i}]`, `unknown mode ${JSON.stringify(mode.type)}`);
    });
  }
  if (isPlain(server.tls) && server.tls.enabled !== false) {
    const tls = server.tls;
    const out_tls: Plain = { cert: tls.cert_file, key: tls.key_file };
    if (typeof tls.ca_file === 'string') out_tls.ca = tls.ca_file;
    if (tls.min_version === '1.3' || tls.min_version === '1.2')
      out_tls.minVersion = `TLSv${tls.min_version}`;
    if (tls.client_auth === 'require') out_tls.requireClientCert = true;
    if (tls.client_auth === 'request')
      drop(
        'server.tls.client_auth',
        'mcp-bridge requires a client certificate or does not ask for one; "request" is not kept',
      );
    out.tls = out_tls;
  }
  const reasons: Readonly<Record<string, string>> = {
    max_connections:
      'no gateway-wide connection cap; server.maxConnectionsPerAddress caps each address',
    connection_buffer_size: 'buffers are sized by Node',
    tcp_health_port:
      'the TCP health port belongs to the TCP frontend, which server.protocol websocket leaves off',
  };
  const used = [
    'host',
    'port',
    'metrics_port',
    'allowed_origins',
    'max_connections_per_ip',
    'protocol',
    'tcp_port',
    ...(protocol !== 'websocket' ? ['tcp_health_port'] : []),
    'stdio_frontend',
    'tls',
  ];
  for (const key of Object.keys(server)) {
    if (!used.includes(key))
      drop(`server.${key}`, reasons[key] ?? 'not a server setting mcp-bridge has');
  }
  return out;
}

/** The variables seed 003 reads its JWT secret from whatever `secret_key_env` says. */
const SEED_SECRET_VARIABLES = ['MCP_JWT_SECRET_KEY', 'JWT_SECRET_KEY'];

function convertAuth(auth: Plain, drop: Drop, notes: string[]): Plain {
  const out: Plain = {};
  if (auth.provider === 'jwt' && isPlain(auth.jwt)) {
    const jwt: Plain = {};
    const secretEnv =
      typeof auth.jwt.secret_key_env === 'string' ? auth.jwt.secret_key_env : 'JWT_SECRET_KEY';
    if (SEED_SECRET_VARIABLES.includes(secretEnv)) {
      // Seed 003 takes either variable, so a reference to one would refuse a machine that sets
      // the other; the environment layer reads both (as aliases of BRIDGE_JWT_SECRET).
      notes.push(
        "auth.jwt.secret is left to the environment: BRIDGE_JWT_SECRET, or seed 003's MCP_JWT_SECRET_KEY or JWT_SECRET_KEY (read as its deprecated aliases)",
      );
    } else {
      jwt.secret = `\${${secretEnv}}`;
    }
    if (typeof auth.jwt.issuer === 'string') jwt.issuer = auth.jwt.issuer;
    if (typeof auth.jwt.audience === 'string') jwt.audience = auth.jwt.audience;
    out.required = true;
    out.jwt = jwt;
    for (const key of Object.keys(auth.jwt)) {
      if (!['secret_key_env', 'issuer', 'audience'].includes(key))
        drop(`auth.jwt.${key}`, 'not a JWT setting mcp-bridge has');
    }
  } else if (auth.provider !== undefined) {
    drop(
      'auth.provider',
      `only jwt is converted; "${String(auth.provider)}" needs its own auth section (docs/auth.md)`,
    );
  }
  const cache = durationMs(auth.per_message_auth_cache);
  if (cache !== undefined) out.perMessageCacheMs = cache;
  for (const key of Object.keys(auth)) {
    if (key === 'per_message_auth')
      drop(
        'auth.per_message_auth',
        'a per-message auth_token is always honoured on the TCP surface; it is not a switch',
      );
    else if (!['provider', 'jwt', 'per_message_auth_cache'].includes(key))
      drop(`auth.${key}`, 'not an auth setting mcp-bridge has');
  }
  return out;
}

function convertBackends(list: unknown, balance: string | undefined, drop: Drop): Plain {
  const backends: Plain = {};
  if (!Array.isArray(list)) return backends;
  list.forEach((raw: unknown, i) => {
    const at = `backends[${i}]`;
    if (!isPlain(raw) || typeof raw.name !== 'string')
      return drop(at, 'expected {name, protocol, config}');
    const config = isPlain(raw.config) ? raw.config : {};
    const backend = convertBackend(String(raw.protocol), config, at, balance, drop);
    if (backend) backends[backendName(raw.name)] = backend;
  });
  return backends;
}

function convertBackend(
  protocol: string,
  config: Plain,
  at: string,
  balance: string | undefined,
  drop: Drop,
): Plain | undefined {
  const used: string[] = [];
  let backend: Plain;
  const endpoints = Array.isArray(config.endpoints) ? config.endpoints.map(String) : [];
  const withReplicas = (transport: string): Plain | undefined => {
    used.push('endpoints');
    const [url, ...more] = endpoints;
    if (url === undefined)
      return void drop(
        `${at}.config.endpoints`,
        'expected at least one URL; the backend is left out',
      );
    const out: Plain = { transport, url };
    if (more.length > 0) out.replicas = more.map((u) => ({ url: u }));
    if (balance) out.balance = balance;
    return out;
  };
  if (protocol === 'stdio') {
    used.push('command', 'working_dir', 'env');
    const command = Array.isArray(config.command) ? config.command.map(String) : [];
    if (command.length === 0)
      return void drop(`${at}.config.command`, 'expected a command; the backend is left out');
    backend = { command: command[0], args: command.slice(1) };
    if (typeof config.working_dir === 'string') backend.cwd = config.working_dir;
    if (isPlain(config.env))
      backend.env = Object.fromEntries(Object.entries(config.env).map(([k, v]) => [k, String(v)]));
  } else if (protocol === 'websocket' || protocol === 'tcp_binary') {
    const out = withReplicas(protocol === 'websocket' ? 'websocket' : 'tcp');
    if (!out) return undefined;
    backend = out;
  } else if (protocol === 'http' || protocol === 'sse') {
    used.push('base_url', 'stream_endpoint');
    if (typeof config.base_url !== 'string')
      return void drop(`${at}.config.base_url`, 'expected a URL; the backend is left out');
    const base = config.base_url.replace(/\/+$/, '');
    backend =
      protocol === 'sse'
        ? {
            transport: 'sse',
            url: `${base}${typeof config.stream_endpoint === 'string' ? config.stream_endpoint : '/sse'}`,
          }
        : { transport: 'auto', url: base };
  } else {
    return void drop(
      `${at}.protocol`,
      `unknown protocol "${protocol}" (stdio, websocket, http, sse, tcp_binary); the backend is left out`,
    );
  }
  const timeout = durationMs(config.timeout);
  if (timeout !== undefined) backend.timeoutMs = timeout;
  used.push('timeout');
  for (const key of Object.keys(config)) {
    if (used.includes(key)) continue;
    drop(
      `${at}.config.${key}`,
      key === 'health_check'
        ? 'backends are checked with MCP ping (processes.healthCheckIntervalMs)'
        : key === 'connection_pool'
          ? 'a remote backend has one connection per client session'
          : 'not a backend setting mcp-bridge has',
    );
  }
  return backend;
}
