import { z } from 'zod';
import { envName, globs, ms } from './fields.js';
import { failoverSchema } from '../cluster/config-schema.js';
import { discoverySchema } from '../discovery/schema.js';
import { schemeFamily } from '../core/url-schemes.js';
import type { SchemeFamily } from '../core/url-schemes.js';

/* The schema of one backend (`backends.<name>`): stdio, or remote over one of the transports. */

/** Methods whose results the response cache may keep without a server's hint. */
export const CACHED_METHODS = [
  'tools/list',
  'prompts/list',
  'resources/list',
  'resources/templates/list',
  'resources/read',
] as const;

/** What every backend may set, whatever its transport. */
const commonBackendFields = {
  /** A disabled backend is kept in the file but not served. */
  enabled: z.boolean().default(true),
  /**
   * The protocol era the backend speaks: `legacy` (2025, initialize and sessions), `modern`
   * (2026-07-28, stateless) or `auto` (a Streamable HTTP backend is asked server/discover first;
   * any other is spoken to in 2025 until it refuses initialize with -32022). See
   * docs/protocol-eras.md.
   */
  protocol: z.enum(['legacy', 'modern', 'auto']).default('auto'),
  /** `/ready` waits for required backends; an optional one being down does not make the gateway unready. */
  required: z.boolean().default(true),
  /** Longest a request to this backend may take (BRIDGE_PROCESS_TIMEOUT). */
  timeoutMs: ms(300_000),
  /** Per method, a deadline other than `timeoutMs` (`{ "tools/list": 5000 }`). */
  methodTimeoutsMs: z.record(z.string().min(1), z.number().int().min(0)).default({}),
  /** How far progress notifications may extend a request's deadline, from its start (0: ten times the deadline). */
  maxTimeoutMs: ms(0),
  /** With `cluster.enabled`: what its sessions become when their replica dies (default `cluster.failover`). */
  failover: failoverSchema.optional(),
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
  /** This backend's response caching (docs/traffic.md#response-caching); default: the `cache` section's. */
  cache: z
    .object({
      /** Cache this backend's results. @default `cache.enabled` */
      enabled: z.boolean().optional(),
      /** Methods cached without a hint from the server. @default `cache.methods` */
      methods: z.array(z.enum(CACHED_METHODS)).optional(),
      /** Lifetime of results without a `ttlMs` hint. @default `cache.ttlMs` */
      ttlMs: z.number().int().min(0).optional(),
      /** Who shares a result without a `cacheScope` hint. @default `cache.scope` */
      scope: z.enum(['public', 'private']).optional(),
      /** Tools (the backend's names, globs) that are pure: their calls may be cached. */
      pureTools: z.array(z.string().min(1)).optional(),
    })
    .strict()
    .optional(),
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

/** The scheme family each transport takes, for replicas that speak another than their backend. */
const REPLICA_FAMILY: Readonly<Record<string, SchemeFamily>> = {
  'streamable-http': 'http',
  sse: 'http',
  auto: 'http',
  websocket: 'websocket',
  tcp: 'tcp',
};

function schemeOf(url: string): string | undefined {
  try {
    return new URL(url).protocol;
  } catch {
    return undefined;
  }
}

/** Several servers behind one backend: each session is placed on one and stays there. */
const replicaFields = {
  /**
   * More URLs serving the same server, besides `url`. A replica may speak another transport
   * than `url` (cross-protocol): `ws(s)://` is WebSocket, `tcp(s)://` the framed TCP protocol,
   * `http(s)://` the backend's HTTP transport (`auto` when the backend's is not HTTP); a
   * `command` replica is a local process over stdio, one per session.
   */
  replicas: z
    .array(
      z
        .object({
          url: z.string().optional(),
          /** Its transport, when the URL's scheme does not say (`sse` or `streamable-http` for http). */
          transport: z.enum(['streamable-http', 'sse', 'auto', 'websocket', 'tcp']).optional(),
          /** A local replica instead of a URL: this program over stdio, one process per session. */
          command: z.string().min(1, 'expected a non-empty command').optional(),
          args: z.array(z.string()).optional(),
          cwd: z.string().min(1).optional(),
          env: z
            .record(z.string().regex(envName, 'expected an environment variable name'), z.string())
            .optional(),
          /** For `weighted` balance. @default 1 */
          weight: z.number().int().min(1).max(1000).default(1),
        })
        .strict()
        .superRefine((r, ctx) => {
          const problem = (message: string, path: string) =>
            ctx.addIssue({ code: 'custom', message, path: [path] });
          if ((r.url === undefined) === (r.command === undefined))
            return problem('expected either a "url" or a "command"', r.url ? 'command' : 'url');
          if (r.command !== undefined) {
            if (r.transport !== undefined)
              problem('a "command" replica speaks stdio; leave "transport" out', 'transport');
            return;
          }
          const scheme = schemeOf(r.url!);
          const family = scheme === undefined ? undefined : schemeFamily(scheme);
          if (family === undefined)
            problem('expected a URL starting with http(s)://, ws(s):// or tcp(s)://', 'url');
          else if (r.transport !== undefined && REPLICA_FAMILY[r.transport] !== family)
            problem('expected a URL whose scheme suits the transport', 'url');
          for (const key of ['args', 'cwd', 'env'] as const)
            if (r[key] !== undefined) problem(`"${key}" goes with a "command" replica`, key);
        }),
    )
    .default([]),
  /**
   * How a new session picks its replica; `url` has weight `weight`. `latency`: the fewest
   * sessions weighted by each replica's measured latency (docs/traffic.md#load-balancing).
   */
  balance: z
    .enum(['least-connections', 'round-robin', 'weighted', 'latency'])
    .default('least-connections'),
  /** Weight of `url` itself, for `weighted` balance. */
  weight: z.number().int().min(1).max(1000).default(1),
  /** `latency` balance: a replica not measured for this long gets the next session, to see whether it recovered. */
  latencyProbeMs: z.number().int().min(100).default(10_000),
  /**
   * Where more replicas come from, looked up again and again: a static list, a watched file,
   * DNS (SRV, A, AAAA), Kubernetes EndpointSlices or the Consul catalog (docs/traffic.md).
   * What it finds replaces `url` and `replicas` as the balancer's list; until it finds any,
   * those serve.
   */
  discovery: discoverySchema.optional(),
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
    const family = schemeFamily(v.url);
    if (family !== undefined) return { transport: family === 'http' ? 'auto' : family, ...v };
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
