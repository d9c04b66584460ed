import { z } from 'zod';
import { restConfigSchema } from '../rest/config-schema.js';
import { clusterConfigSchema } from '../cluster/config-schema.js';
import { ms } from './fields.js';
import {
  BACKEND_NAME,
  CACHED_METHODS,
  backendSchema,
  httpUrl,
  remoteBackendSchema,
  stdioBackendSchema,
} from './backend-schema.js';

export { BACKEND_NAME, backendSchema, remoteBackendSchema, stdioBackendSchema };

/*
 * The one schema of the gateway's configuration (with backend-schema.ts for `backends.<name>`).
 * Defaults live in these two files and nowhere else; a config
 * file, the environment and the command line are merged (in that order of precedence, lowest
 * first) before the result is parsed, once, and frozen. Durations are in milliseconds.
 */

/** A surface's own message limit; TCP's is `server.tcp.maxFrameBytes`. */
const surfaceLimit = z
  .object({ maxMessageBytes: z.number().int().min(1024).optional() })
  .strict()
  .prefault({});

export const configSchema = z
  .object({
    server: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8080),
        /** Path of the aggregated Streamable HTTP endpoint; each backend also has /servers/<name>/mcp. */
        path: z.string().startsWith('/').default('/mcp'),
        /** Also serve newline-delimited JSON-RPC on this Unix socket, one session per connection. */
        unixSocket: z.string().min(1).optional(),
        /** Serve Streamable HTTP (BRIDGE_ENABLE_HTTP). */
        http: z.boolean().default(true),
        /** Serve legacy HTTP+SSE (BRIDGE_ENABLE_SSE). */
        sse: z.boolean().default(true),
        /** Serve WebSocket (BRIDGE_ENABLE_WEBSOCKET). */
        websocket: z.boolean().default(true),
        /** Host names requests may name (DNS-rebinding protection); default: the loopback names when bound to loopback, else any. */
        allowedHosts: z.array(z.string().min(1)).optional(),
        /** Origins allowed besides the gateway's own, for browsers (BRIDGE_CORS_ORIGINS); `*` for any. */
        allowedOrigins: z.array(z.string().min(1)).default([]),
        /** The framed TCP protocol (docs/tcp-protocol.md), one session per connection. */
        tcp: z
          .object({
            /** Serve it (`--tcp-port <n>` also turns it on). */
            enabled: z.boolean().default(false),
            /** Its own port, 0 for any free one. */
            port: z.number().int().min(0).max(65535).default(8444),
            /** Address to bind; default: `server.host`. */
            host: z.string().min(1).optional(),
            /** Serve TLS with `server.tls`'s certificate and key. */
            tls: z.boolean().default(false),
            /** Largest frame payload accepted, in bytes. */
            maxFrameBytes: z
              .number()
              .int()
              .min(1024)
              .default(10 * 1024 * 1024),
            /** Requests one connection may have in flight; more are refused with GATEWAY_CAPACITY. */
            maxInFlight: z.number().int().min(1).default(1024),
            /**
             * A port of its own answering one health-check frame per connection (seed 003's
             * `tcp_health_port`, docs/tcp-protocol.md); 0 for any free one. Off when absent.
             */
            healthPort: z.number().int().min(0).max(65535).optional(),
          })
          .strict()
          .refine((tcp) => tcp.healthPort === undefined || tcp.enabled, {
            message: 'expected server.tcp.enabled: the health port belongs to the TCP frontend',
            path: ['healthPort'],
          })
          .prefault({}),
        /** Serve HTTPS (and WSS) instead of HTTP. */
        tls: z
          .object({
            /** Certificate chain: a PEM file path, or the PEM text. */
            cert: z.string().min(1),
            /** Private key: a PEM file path, or the PEM text. */
            key: z.string().min(1),
            /** CAs that client certificates must chain to (mTLS). */
            ca: z.string().min(1).optional(),
            minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
            /** OpenSSL cipher list; Node's default when absent. */
            ciphers: z.string().min(1).optional(),
            /** Require a client certificate signed by `ca`; its subject becomes the principal. */
            requireClientCert: z.boolean().default(false),
          })
          .strict()
          .optional(),
        /** Contact line of /.well-known/security.txt. */
        securityContact: z.string().min(1).default('mailto:security@localhost'),
        /** On shutdown, how long requests in flight may take to finish before sessions are cut. */
        shutdownTimeoutMs: ms(10_000),
        /** How long a client may take to send a request's head; then the connection is closed. */
        headersTimeoutMs: z.number().int().min(100).default(10_000),
        /**
         * How long a client may take to send a whole request, head and body. Only receiving the
         * request counts: an SSE stream or a streamed reply that lasts longer is not cut.
         */
        requestTimeoutMs: z.number().int().min(100).default(60_000),
        /**
         * How long an idle keep-alive connection stays open. Above the 60 s idle timeout of common
         * load balancers, so that the gateway never closes a connection one is about to reuse.
         */
        keepAliveTimeoutMs: z.number().int().min(0).default(65_000),
        /** TCP connections one client address may hold to the HTTP listener; more are cut at once. 0: no limit. */
        maxConnectionsPerAddress: z.number().int().min(0).default(256),
      })
      .strict()
      .refine((server) => server.headersTimeoutMs <= server.requestTimeoutMs, {
        message: 'expected at most server.requestTimeoutMs',
        path: ['headersTimeoutMs'],
      })
      .prefault({}),
    limits: z
      .object({
        /** Largest JSON-RPC message accepted on any surface, in bytes. */
        maxMessageBytes: z
          .number()
          .int()
          .min(1024)
          .default(16 * 1024 * 1024),
        /**
         * Deepest nesting of arrays and objects accepted in a client's message; deeper input is
         * refused before it is parsed (serializing it again would overflow the stack).
         */
        maxDepth: z.number().int().min(8).max(10_000).default(128),
        /** Largest request body on the HTTP surfaces (Streamable HTTP, SSE posts, REST); default: maxMessageBytes. */
        http: surfaceLimit,
        /** Largest WebSocket message (larger ones close the connection with 1009); default: maxMessageBytes. */
        websocket: surfaceLimit,
      })
      .strict()
      .prefault({}),
    sessions: z
      .object({
        /** A session with no client activity for this long is closed (BRIDGE_SESSION_TIMEOUT). */
        idleTimeoutMs: z.number().int().min(1000).default(3_600_000),
        /**
         * A session whose client holds no stream open (a Streamable HTTP client with no GET
         * stream and no request in flight) is closed after this long idle: clients that never
         * send DELETE must not pin a backend process for the full idle timeout.
         */
        idleWithoutStreamMs: z.number().int().min(1000).default(300_000),
        /** A session whose `initialize` has not succeeded this long after it opened is ended. */
        handshakeTimeoutMs: z.number().int().min(100).default(10_000),
        /** How often idle sessions are looked for (BRIDGE_SESSION_CLEANUP_INTERVAL). */
        cleanupIntervalMs: z.number().int().min(100).default(60_000),
        /**
         * Sessions one caller may hold at once (its principal when authenticated, else its
         * address); 0: no limit (BRIDGE_MAX_SESSIONS_PER_CLIENT). Behind a proxy without
         * authentication every client has the proxy's address: raise it or set 0 there.
         */
        maxPerClient: z.number().int().min(0).default(500),
      })
      .strict()
      .prefault({}),
    /** The 2026-07-28 protocol revision, served to modern clients whatever a backend speaks. */
    modern: z
      .object({
        /** Serve 2026-07-28 requests (off: they get the legacy path's answers, as before). */
        enabled: z.boolean().default(true),
        /** Legacy sessions kept per caller and capability set for modern requests. */
        poolMaxPerKey: z.number().int().min(1).max(1024).default(8),
        /** How long an `input_required` round waits for the client's retry. */
        continuationTtlMs: z.number().int().min(1000).default(300_000),
        /**
         * Keys (32 bytes, base64) sealing `requestState`: the first seals, all open, so a key
         * can be rotated. None: a random key per process (continuations die with it).
         */
        stateKeys: z
          .array(
            z
              .string()
              .refine(
                (k) => Buffer.from(k, 'base64').length === 32,
                'must be 32 bytes, base64-encoded (make one with: openssl rand -base64 32)',
              ),
          )
          .default([]),
        /** The caching hints complete list and read results carry (private: per caller). */
        cache: z
          .object({
            ttlMs: ms(0),
            scope: z.enum(['public', 'private']).default('private'),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    processes: z
      .object({
        /** Most stdio backend processes at once, all backends together; 0: no limit (BRIDGE_MAX_PROCESSES). */
        max: z.number().int().min(0).default(256),
        /** A shared or pooled process with no session for this long is stopped (BRIDGE_PROCESS_IDLE_TIMEOUT); 0: never. */
        idleTimeoutMs: ms(600_000),
        /** How often a shared or pooled process, or a supervised connection, is pinged (BRIDGE_HEALTH_CHECK_INTERVAL); 0: never. */
        healthCheckIntervalMs: ms(30_000),
        /** How long a ping may take before the backend counts as unhealthy. */
        healthCheckTimeoutMs: ms(5_000),
        /** Restart a backend that failed (BRIDGE_RESTART_ON_FAILURE). */
        restartOnFailure: z.boolean().default(true),
        /** Restarts in a row before giving up (BRIDGE_MAX_RESTART_ATTEMPTS). */
        maxRestartAttempts: z.number().int().min(0).default(3),
        /** First restart delay; doubled after each failed attempt, with ±20% jitter. */
        restartBackoffMs: ms(500),
        /** Longest restart delay. */
        restartBackoffMaxMs: ms(30_000),
      })
      .strict()
      .prefault({}),
    aggregate: z
      .object({
        /** Serve every enabled backend together on `server.path`. */
        enabled: z.boolean().default(true),
        /** Between a backend's prefix and a tool or prompt name. */
        separator: z.string().min(1).max(8).default('__'),
        /**
         * When tool and prompt names get their backend's prefix: `always`; `on-collision`, only
         * names that two backends share; `never`, bare names, and a list that would offer one
         * name twice fails with GATEWAY_NAME_COLLISION.
         */
        prefix: z.enum(['always', 'on-collision', 'never']).default('always'),
        /** How long lists and calls wait for backends that are still starting. */
        startWaitMs: ms(30_000),
      })
      .strict()
      .prefault({}),
    auth: z
      .object({
        /** Refuse MCP requests without valid credentials (BRIDGE_REQUIRE_AUTH). */
        required: z.boolean().default(false),
        /** API keys, plain or `sha256:<hex>` (BRIDGE_API_KEYS, comma-separated). */
        apiKeys: z
          .array(
            z
              .string()
              .min(
                8,
                'expected an API key of at least 8 characters; make one with "openssl rand -hex 32" (or use JWTs: "mcp-bridge token create")',
              ),
          )
          .default([]),
        jwt: z
          .object({
            /** HS256 shared secret. */
            secret: z.string().min(16, 'expected a secret of at least 16 characters').optional(),
            /** PEM public key (RS256 or ES256). */
            publicKey: z.string().min(1).optional(),
            /** JWKS endpoint; keys are cached and fetched again on an unknown `kid`. */
            jwksUrl: httpUrl.optional(),
            issuer: z.string().min(1).optional(),
            /** The resource this gateway is (RFC 8707); tokens for another audience are refused. */
            audience: z.union([z.string().min(1), z.array(z.string().min(1))]).optional(),
            clockToleranceSec: z.number().int().min(0).max(300).default(30),
            /**
             * Longest lifetime a token may have: `exp - iat`, or `exp - now` without `iat`. A
             * token without `exp` is always refused.
             */
            maxLifetimeSeconds: z.number().int().min(1).default(86_400),
            /** The claim that names the caller; a token without it is refused. */
            principalClaim: z.string().min(1).default('sub'),
          })
          .strict()
          .refine((jwt) => jwt.secret ?? jwt.publicKey ?? jwt.jwksUrl, {
            message:
              'verifies no token: give secret (or set BRIDGE_JWT_SECRET), publicKey or jwksUrl',
          })
          .optional(),
        /**
         * Opaque bearer tokens checked at the authorization server (OAuth 2.0 token
         * introspection, RFC 7662): a token that is neither an API key nor a JWT that
         * `auth.jwt` verifies is posted to `url`, and its answer decides (docs/security.md).
         */
        introspection: z
          .object({
            /** The introspection endpoint. */
            url: httpUrl,
            /** The gateway's own client id at the authorization server. */
            clientId: z.string().min(1),
            /** Its secret (BRIDGE_INTROSPECTION_SECRET). */
            clientSecret: z.string().min(1),
            /** `basic`: HTTP Basic (client_secret_basic); `post`: in the form (client_secret_post). */
            clientAuth: z.enum(['basic', 'post']).default('basic'),
            /** Longest wait for an answer; then the request gets 503 GATEWAY_AUTH_UNAVAILABLE. */
            timeoutMs: z.number().int().min(100).max(60_000).default(5000),
            /** Longest an active token's answer is kept (never past its `exp`); 0: asked every time. */
            cacheTtlMs: ms(300_000),
            /** How long a refused token's answer is kept; 0: not kept. */
            negativeCacheMs: ms(10_000),
            /** Most answers kept at once; the least recently used go first. */
            maxEntries: z.number().int().min(1).max(1_000_000).default(10_000),
            /** A token must name one of these in `aud`, when set. */
            audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
            /** A token's `iss` must be this, when set. */
            issuer: z.string().min(1).optional(),
            /** The field that names the caller; `client_id` when a token has none. */
            principalClaim: z.string().min(1).default('sub'),
            clockToleranceSec: z.number().int().min(0).max(300).default(30),
          })
          .strict()
          .optional(),
        /** `auth_token` in WebSocket envelope messages: validated per message, results cached this long. */
        perMessageCacheMs: z.number().int().min(0).default(60_000),
        /** Scopes every MCP request needs; a token without one gets 403 insufficient_scope. */
        requiredScopes: z.array(z.string().min(1)).default([]),
        oauth: z
          .object({
            /** Listed in /.well-known/oauth-protected-resource (RFC 9728). */
            authorizationServers: z.array(httpUrl).default([]),
            scopesSupported: z.array(z.string().min(1)).default([]),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    authorization: z
      .object({
        /** What a request no rule matches gets. */
        default: z.enum(['allow', 'deny']).default('allow'),
        /**
         * Checked in order; the first rule that matches the caller and the target decides. A rule
         * matches the caller if every given condition holds (principal id globs, scopes all held,
         * claims equal), and the target if its backend (`*` for the aggregated endpoint) and the
         * tool, prompt or resource name match the globs given.
         */
        rules: z
          .array(
            z
              .object({
                effect: z.enum(['allow', 'deny']),
                principals: z.array(z.string().min(1)).optional(),
                scopes: z.array(z.string().min(1)).optional(),
                claims: z
                  .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
                  .optional(),
                backends: z.array(z.string().min(1)).optional(),
                tools: z.array(z.string().min(1)).optional(),
                prompts: z.array(z.string().min(1)).optional(),
                resources: z.array(z.string().min(1)).optional(),
              })
              .strict(),
          )
          .default([]),
      })
      .strict()
      .prefault({}),
    /** Response caching of cacheable results (docs/traffic.md#response-caching); per backend: `backends.<name>.cache`. */
    cache: z
      .object({
        /** Cache every backend's results (a backend's own `cache.enabled` wins). */
        enabled: z.boolean().default(false),
        /** `memory`: this process; `redis`: shared by every replica (needs `redis.url`). */
        store: z.enum(['memory', 'redis']).default('memory'),
        /** Methods cached without a hint from the server (`resources/read` is cached when a server marks it, or when listed). */
        methods: z
          .array(z.enum(CACHED_METHODS))
          .default(['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list']),
        /** Lifetime of results without a `ttlMs` hint; 0: only hinted results are kept. */
        ttlMs: ms(60_000),
        /** Who shares a result without a `cacheScope` hint: every caller, or each principal alone. */
        scope: z.enum(['public', 'private']).default('private'),
        /** Longest lifetime of any entry, a server's `ttlMs` included. */
        maxTtlMs: z.number().int().min(1).default(3_600_000),
        /** Most entries (memory); most entries of one backend and method (redis). */
        maxEntries: z.number().int().min(1).default(10_000),
        /** Most bytes of all entries (memory). */
        maxBytes: z
          .number()
          .int()
          .min(1024)
          .default(64 * 1024 * 1024),
        /** Larger results are not kept. */
        maxEntryBytes: z
          .number()
          .int()
          .min(1)
          .default(1024 * 1024),
      })
      .strict()
      .refine((cache) => cache.maxEntryBytes <= cache.maxBytes, {
        message: 'expected at most cache.maxBytes',
        path: ['maxEntryBytes'],
      })
      .prefault({}),
    redis: z
      .object({
        /** Shared state for several replicas (REDIS_URL): `redis://…`, or a Unix socket path. */
        url: z.string().min(1).optional(),
        /** Prefix of every key the gateway writes. */
        keyPrefix: z.string().default('mcp-bridge:'),
      })
      .strict()
      .prefault({}),
    /** Several replicas sharing sessions through Redis (src/cluster/config-schema.ts, docs/scaling.md). */
    cluster: clusterConfigSchema,
    rateLimits: z
      .object({
        /** (BRIDGE_ENABLE_RATE_LIMITING) */
        enabled: z.boolean().default(false),
        /** Requests per client address per period, the default rule; 0: no default rule (BRIDGE_RATE_LIMIT_REQUESTS). */
        requests: z.number().int().min(0).default(100),
        /** (BRIDGE_RATE_LIMIT_PERIOD, seconds) */
        periodMs: z.number().int().min(100).default(60_000),
        /** More limits: by client address, principal, API key, backend or tool (`match`: a glob over the name). */
        rules: z
          .array(
            z
              .object({
                scope: z.enum(['ip', 'principal', 'apiKey', 'backend', 'tool']),
                match: z.string().min(1).optional(),
                requests: z.number().int().min(1),
                periodMs: z.number().int().min(100),
              })
              .strict(),
          )
          .default([]),
        /** WebSocket connections one client address may hold; 0: no limit. */
        websocketConnectionsPerIp: z.number().int().min(0).default(0),
      })
      .strict()
      .prefault({}),
    breakers: z
      .object({
        /** A circuit breaker per backend. */
        enabled: z.boolean().default(true),
        failureThreshold: z.number().int().min(1).default(5),
        /** Failure share over `window` calls that also opens it; 0: off. */
        failureRatio: z.number().min(0).max(1).default(0.5),
        window: z.number().int().min(1).default(20),
        openMs: z.number().int().min(0).default(10_000),
        successThreshold: z.number().int().min(1).default(2),
      })
      .strict()
      .prefault({}),
    retries: z
      .object({
        /** Retries of safe methods (lists, reads, gets) when the backend failed; never of tools/call. */
        attempts: z.number().int().min(0).default(2),
        backoffMs: z.number().int().min(0).default(100),
      })
      .strict()
      .prefault({}),
    admin: z
      .object({
        /** Serve /metrics and the dashboard on their own listener (BRIDGE_ENABLE_METRICS). */
        enabled: z.boolean().default(true),
        host: z.string().min(1).default('127.0.0.1'),
        /** (BRIDGE_METRICS_PORT) */
        port: z.number().int().min(0).max(65535).default(9090),
      })
      .strict()
      .prefault({}),
    audit: z
      .object({
        /** One record per tool call, resource read, prompt get and auth decision. */
        enabled: z.boolean().default(false),
        /** `stdout`, `stderr`, or a file path. */
        destination: z.string().min(1).default('stderr'),
        /** Put call arguments in the records (they may hold personal data). */
        includeArguments: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    tracing: z
      .object({
        /** OpenTelemetry spans, exported over OTLP as the standard OTEL_* variables say. */
        enabled: z.boolean().default(false),
        serviceName: z.string().min(1).default('mcp-bridge'),
      })
      .strict()
      .prefault({}),
    /** The REST/JSON API, /openapi.json and /docs (src/rest/config-schema.ts). */
    rest: restConfigSchema,
    log: z
      .object({
        level: z
          .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
          .default('info'),
        /** Write logs to this file instead of stderr (BRIDGE_LOG_FILE). */
        file: z.string().min(1).optional(),
        /**
         * `pretty`: readable lines; `json`: JSON lines; `auto`: pretty when stderr is a terminal
         * and logs go there, JSON otherwise (BRIDGE_LOG_FORMAT, `--log-format`).
         */
        format: z.enum(['auto', 'pretty', 'json']).default('auto'),
      })
      .strict()
      .prefault({}),
    backends: z
      .record(
        z.string().regex(BACKEND_NAME, 'expected a name of letters, digits, "_", "." or "-"'),
        backendSchema,
      )
      .refine((backends) => Object.keys(backends).length > 0, {
        message: 'expected at least one backend',
      }),
  })
  .strict();

export type GatewayConfig = z.infer<typeof configSchema>;
export type GatewayConfigInput = z.input<typeof configSchema>;
export type BackendConfig = z.infer<typeof backendSchema>;
export type StdioBackendConfig = z.infer<typeof stdioBackendSchema>;
export type RemoteBackendConfig = z.infer<typeof remoteBackendSchema>;

/** The largest message `surface` takes: its own limit, else `limits.maxMessageBytes`. */
export function messageLimit(
  limits: Readonly<GatewayConfig['limits']>,
  surface: 'http' | 'websocket',
): number {
  return limits[surface].maxMessageBytes ?? limits.maxMessageBytes;
}

/** A configuration error, with every problem as `path: what was expected`. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

function formatPath(path: readonly PropertyKey[]): string {
  return (
    path
      .map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))
      .join('.')
      .replace(/\.\[/g, '[') || '(root)'
  );
}

/** Validates and freezes a configuration; throws ConfigError naming each bad path. */
export function parseConfig(input: unknown): Readonly<GatewayConfig> {
  const result = configSchema.safeParse(input);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`),
    );
  }
  if (result.data.cache.store === 'redis' && result.data.redis.url === undefined)
    throw new ConfigError(['cache.store: "redis" needs redis.url (REDIS_URL)']);
  const cluster = result.data.cluster;
  if (cluster.enabled) {
    const problems: string[] = [];
    if (result.data.redis.url === undefined)
      problems.push('redis.url: cluster.enabled needs Redis');
    if (cluster.secret === undefined)
      problems.push('cluster.secret: cluster.enabled needs a secret the replicas share');
    if (problems.length > 0) throw new ConfigError(problems);
  }
  return deepFreeze(result.data);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
