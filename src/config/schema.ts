import { z } from 'zod';

/*
 * The one schema of the gateway's configuration. Defaults live here and nowhere else; a config
 * file, the environment and the command line are merged (in that order of precedence, lowest
 * first) before the result is parsed, once, and frozen. Durations are in milliseconds.
 */

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ms = (fallback: number) => z.number().int().min(0).default(fallback);

/** Glob patterns (`*` any run of characters, `?` one) over tool names. */
const globs = z.array(z.string().min(1)).optional();

/** What every backend may set, whatever its transport. */
const commonBackendFields = {
  /** A disabled backend is kept in the file but not served. */
  enabled: z.boolean().default(true),
  /** `/ready` waits for required backends; an optional one being down does not make the gateway unready. */
  required: z.boolean().default(true),
  /** Longest a request to this backend may take (BRIDGE_PROCESS_TIMEOUT). */
  timeoutMs: ms(300_000),
  /** Per method, a deadline other than `timeoutMs` (`{ "tools/list": 5000 }`). */
  methodTimeoutsMs: z.record(z.string().min(1), z.number().int().min(0)).default({}),
  /** How far progress notifications may extend a request's deadline, from its start (0: ten times the deadline). */
  maxTimeoutMs: ms(0),
  /** Namespace of its tools and prompts on the aggregated endpoint (`<prefix><separator><name>`). Default: the backend's name. */
  prefix: z.string().min(1).optional(),
  /**
   * What the backend is told of the caller: nothing (`none`, the default; static `headers`
   * still apply), the caller's own token (`passthrough`, discouraged by the MCP spec: the
   * backend then accepts tokens not meant for it), or a token exchanged for it (RFC 8693).
   */
  credentials: z
    .discriminatedUnion('type', [
      z.object({ type: z.literal('none') }).strict(),
      z.object({ type: z.literal('passthrough') }).strict(),
      z
        .object({
          type: z.literal('exchange'),
          tokenUrl: z.string().min(1),
          clientId: z.string().min(1),
          clientSecret: z.string().min(1),
          audience: z.string().min(1).optional(),
          scope: z.string().min(1).optional(),
        })
        .strict(),
    ])
    .default({ type: 'none' }),
  tools: z
    .object({
      /** Only tools matching one of these are offered (default: all). */
      include: globs,
      /** Tools matching one of these are not offered. */
      exclude: globs,
      /** Per tool (by its backend name): a new name and/or description. */
      overrides: z
        .record(
          z.string(),
          z
            .object({
              name: z.string().min(1).max(64).optional(),
              description: z.string().optional(),
            })
            .strict(),
        )
        .default({}),
    })
    .strict()
    .prefault({}),
};

export const stdioBackendSchema = z
  .object({
    transport: z.literal('stdio'),
    command: z.string().min(1, 'expected a non-empty command'),
    args: z.array(z.string()).default([]),
    cwd: z.string().min(1).optional(),
    env: z
      .record(z.string().regex(envName, 'expected an environment variable name'), z.string())
      .default({}),
    /** `true`: the gateway's whole environment; `false`: none; a list: those names. Default: a safe list. */
    inheritEnv: z.union([z.boolean(), z.array(z.string().regex(envName))]).optional(),
    /** Grace period between closing stdin and SIGTERM, then SIGKILL. */
    killGraceMs: z.number().int().min(0).max(60_000).default(2000),
    /**
     * `per-session`: a process for each client session; `shared`: one process for all sessions;
     * `pool`: `poolSize` processes, each session pinned to one.
     */
    processModel: z.enum(['per-session', 'shared', 'pool']).default('per-session'),
    poolSize: z.number().int().min(1).max(1024).default(4),
    /**
     * Shared and pooled processes: let one call at a time run per process, so that a server's
     * request to a client (sampling, elicitation, roots) always has one session it can belong to.
     * Turn off only for servers that never ask their client anything.
     */
    serializeCalls: z.boolean().default(true),
    /** Pooled processes: how a new session picks its process. */
    balance: z.enum(['least-connections', 'round-robin']).default('least-connections'),
    /** Shared and pooled processes: start with the gateway (`eager`) or with the first session. */
    start: z.enum(['eager', 'on-demand']).default('on-demand'),
    /** Most processes this backend may run at once (0: no limit of its own). */
    maxProcesses: z.number().int().min(0).default(0),
    ...commonBackendFields,
  })
  .strict();

const headers = z.record(z.string().min(1), z.string()).default({});

/** Several servers behind one backend: each session is placed on one and stays there. */
const replicaFields = {
  /** More URLs serving the same server, besides `url`. */
  replicas: z
    .array(
      z
        .object({
          url: z.string().min(1),
          /** For `weighted` balance. @default 1 */
          weight: z.number().int().min(1).max(1000).default(1),
        })
        .strict(),
    )
    .default([]),
  /** How a new session picks its replica; `url` has weight `weight`. */
  balance: z.enum(['least-connections', 'round-robin', 'weighted']).default('least-connections'),
  /** Weight of `url` itself, for `weighted` balance. */
  weight: z.number().int().min(1).max(1000).default(1),
};

function urlWithScheme(schemes: string[]) {
  return z.string().refine(
    (value) => {
      try {
        return schemes.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `expected a URL starting with ${schemes.map((s) => `${s}//`).join(' or ')}` },
  );
}

const httpUrl = urlWithScheme(['http:', 'https:']);

export const remoteBackendSchema = z.discriminatedUnion('transport', [
  z
    .object({
      transport: z.literal('streamable-http'),
      url: httpUrl,
      headers,
      ...replicaFields,
      ...commonBackendFields,
    })
    .strict(),
  z
    .object({
      transport: z.literal('sse'),
      url: httpUrl,
      headers,
      ...replicaFields,
      ...commonBackendFields,
    })
    .strict(),
  /** Streamable HTTP, falling back to legacy SSE when the server does not speak it. */
  z
    .object({
      transport: z.literal('auto'),
      url: httpUrl,
      headers,
      ...replicaFields,
      ...commonBackendFields,
    })
    .strict(),
  z
    .object({
      transport: z.literal('websocket'),
      url: urlWithScheme(['ws:', 'wss:']),
      headers,
      ...replicaFields,
      ...commonBackendFields,
    })
    .strict(),
  /** The framed TCP protocol (docs/tcp-protocol.md); `tcps://` for TLS. */
  z
    .object({
      transport: z.literal('tcp'),
      url: urlWithScheme(['tcp:', 'tcps:']),
      /** `Authorization: Bearer <token>` here becomes the request frames' `auth_token`. */
      headers,
      ...replicaFields,
      ...commonBackendFields,
    })
    .strict(),
]);

/** Fills in `transport` when it can be told from the rest: a command, or a URL's scheme. */
function inferTransport(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || 'transport' in value) return value;
  const v = value as Record<string, unknown>;
  if ('command' in v) return { transport: 'stdio', ...v };
  if (typeof v.url === 'string') {
    const scheme = v.url.slice(0, v.url.indexOf(':') + 1).toLowerCase();
    if (scheme === 'ws:' || scheme === 'wss:') return { transport: 'websocket', ...v };
    if (scheme === 'tcp:' || scheme === 'tcps:') return { transport: 'tcp', ...v };
    if (scheme === 'http:' || scheme === 'https:') return { transport: 'auto', ...v };
  }
  return value;
}

export const backendSchema = z.preprocess(
  inferTransport,
  z.discriminatedUnion('transport', [stdioBackendSchema, ...remoteBackendSchema.options], {
    error: (issue) =>
      issue.code === 'invalid_union'
        ? 'expected a "command", a "url" starting with http(s)://, ws(s):// or tcp(s)://, or a "transport"'
        : undefined,
  }),
);

export const BACKEND_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

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
          })
          .strict()
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
      })
      .strict()
      .prefault({}),
    limits: z
      .object({
        /** Largest JSON-RPC message accepted on any surface, in bytes. */
        maxMessageBytes: z
          .number()
          .int()
          .min(1024)
          .default(16 * 1024 * 1024),
      })
      .strict()
      .prefault({}),
    sessions: z
      .object({
        /** A session with no client activity for this long is closed (BRIDGE_SESSION_TIMEOUT). */
        idleTimeoutMs: z.number().int().min(1000).default(3_600_000),
        /** How often idle sessions are looked for (BRIDGE_SESSION_CLEANUP_INTERVAL). */
        cleanupIntervalMs: z.number().int().min(100).default(60_000),
        /** Sessions one client address may hold at once; 0: no limit (BRIDGE_MAX_SESSIONS_PER_CLIENT). */
        maxPerClient: z.number().int().min(0).default(0),
      })
      .strict()
      .prefault({}),
    processes: z
      .object({
        /** Most stdio backend processes at once, all backends together; 0: no limit (BRIDGE_MAX_PROCESSES). */
        max: z.number().int().min(0).default(0),
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
          .array(z.string().min(8, 'expected an API key of at least 8 characters'))
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
    redis: z
      .object({
        /** Shared state for several replicas (REDIS_URL): `redis://…`, or a Unix socket path. */
        url: z.string().min(1).optional(),
        /** Prefix of every key the gateway writes. */
        keyPrefix: z.string().default('mcp-bridge:'),
      })
      .strict()
      .prefault({}),
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
    log: z
      .object({
        level: z
          .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
          .default('info'),
        /** Write logs to this file instead of stderr (BRIDGE_LOG_FILE). */
        file: z.string().min(1).optional(),
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
  return deepFreeze(result.data);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
