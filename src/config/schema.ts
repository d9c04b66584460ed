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
  })
  .strict();

export const backendSchema = z.discriminatedUnion('transport', [stdioBackendSchema]);

export const configSchema = z
  .object({
    server: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8080),
        /** Path of the Streamable HTTP endpoint. */
        path: z.string().startsWith('/').default('/mcp'),
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
