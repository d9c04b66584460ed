import { z } from 'zod';
import { envName, globs, ms } from './fields.js';

/* The schema of one backend (`backends.<name>`): stdio, or remote over one of the transports. */

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

export const httpUrl = urlWithScheme(['http:', 'https:']);

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
