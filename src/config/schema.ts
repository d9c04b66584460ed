import { z } from 'zod';

/*
 * The one schema of the gateway's configuration. Defaults live here and nowhere else; what the
 * CLI, the environment and (later) a config file provide is merged before it is parsed.
 */

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;

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
  })
  .strict();

const headers = z.record(z.string().min(1), z.string()).default({});

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
  z.object({ transport: z.literal('streamable-http'), url: httpUrl, headers }).strict(),
  z.object({ transport: z.literal('sse'), url: httpUrl, headers }).strict(),
  /** Streamable HTTP, falling back to legacy SSE when the server does not speak it. */
  z.object({ transport: z.literal('auto'), url: httpUrl, headers }).strict(),
  z
    .object({ transport: z.literal('websocket'), url: urlWithScheme(['ws:', 'wss:']), headers })
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
    if (scheme === 'http:' || scheme === 'https:') return { transport: 'auto', ...v };
  }
  return value;
}

export const backendSchema = z.preprocess(
  inferTransport,
  z.discriminatedUnion('transport', [stdioBackendSchema, ...remoteBackendSchema.options]),
);

export const configSchema = z
  .object({
    server: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8080),
        /** Path of the Streamable HTTP endpoint. */
        path: z.string().startsWith('/').default('/mcp'),
        /** Also serve newline-delimited JSON-RPC on this Unix socket, one session per connection. */
        unixSocket: z.string().min(1).optional(),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 8080, path: '/mcp' }),
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
      .default({ maxMessageBytes: 16 * 1024 * 1024 }),
    sessions: z
      .object({
        /** A session with no client activity for this long is closed. */
        idleTimeoutMs: z.number().int().min(1000).default(1_800_000),
      })
      .strict()
      .default({ idleTimeoutMs: 1_800_000 }),
    log: z
      .object({
        level: z
          .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
          .default('info'),
      })
      .strict()
      .default({ level: 'info' }),
    backends: z
      .record(
        z
          .string()
          .regex(
            /^[A-Za-z0-9][A-Za-z0-9_.-]*$/,
            'expected a name of letters, digits, "_", "." or "-"',
          ),
        backendSchema,
      )
      .refine((backends) => Object.keys(backends).length === 1, {
        message: 'expected exactly one backend (aggregating several is not supported yet)',
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
