import type { JSONRPCMessage, JSONRPCReply, JSONRPCRequest } from '../core/jsonrpc.js';

/**
 * The facts of the 2026-07-28 protocol revision ("modern") that the translation between the
 * eras rests on. A modern request carries what a legacy session negotiated once in its own
 * `_meta`; these helpers read, strip and add those keys, and map what changed between the eras.
 * See docs/protocol-eras.md for the table they implement.
 */

/** The modern revisions the bridge serves. */
export const MODERN_VERSIONS: readonly string[] = ['2026-07-28'];
export const MODERN_VERSION = '2026-07-28';

/** Every revision the bridge serves, whatever its backends speak: `server/discover` names them. */
export const SERVED_VERSIONS: readonly string[] = [
  '2026-07-28',
  '2025-11-25',
  '2025-06-18',
  '2025-03-26',
];

const PREFIX = 'io.modelcontextprotocol/';
export const META = {
  protocolVersion: `${PREFIX}protocolVersion`,
  clientCapabilities: `${PREFIX}clientCapabilities`,
  clientInfo: `${PREFIX}clientInfo`,
  logLevel: `${PREFIX}logLevel`,
  serverInfo: `${PREFIX}serverInfo`,
  subscriptionId: `${PREFIX}subscriptionId`,
} as const;

/** The keys a modern request carries for the bridge, not for a legacy server. */
const ENVELOPE_KEYS = [
  META.protocolVersion,
  META.clientCapabilities,
  META.clientInfo,
  META.logLevel,
] as const;

/** A bridge-private `_meta` key: the input key a server request stands for, across a hop. */
export const INPUT_KEY_META = 'dev.mcp-bridge/inputKey';

/** Methods of the legacy era that a modern request may not use (answered 404 `-32601`). */
export const REMOVED_METHODS: ReadonlySet<string> = new Set([
  'initialize',
  'ping',
  'logging/setLevel',
  'resources/subscribe',
  'resources/unsubscribe',
]);

/** The only methods whose result may be `input_required`. */
export const INPUT_METHODS: ReadonlySet<string> = new Set([
  'tools/call',
  'prompts/get',
  'resources/read',
]);

/** Results that carry caching hints (`ttlMs`, `cacheScope`) when complete. */
export const CACHEABLE_METHODS: ReadonlySet<string> = new Set([
  'server/discover',
  'tools/list',
  'prompts/list',
  'resources/list',
  'resources/templates/list',
  'resources/read',
]);

/** A server's request to the client, and the client capability it needs. */
export const INPUT_REQUEST_CAPABILITY: Readonly<Record<string, string>> = {
  'sampling/createMessage': 'sampling',
  'elicitation/create': 'elicitation',
  'roots/list': 'roots',
};

type Params = Record<string, unknown>;

function metaOf(message: JSONRPCMessage): Params | undefined {
  const params = (message as { params?: unknown }).params;
  if (typeof params !== 'object' || params === null) return undefined;
  const meta = (params as Params)._meta;
  return typeof meta === 'object' && meta !== null && !Array.isArray(meta)
    ? (meta as Params)
    : undefined;
}

/**
 * The protocol revision a message claims in its `_meta`, if it makes the modern claim at all.
 * This is the cheap test every message passes: a legacy message costs two property reads.
 */
export function modernClaim(message: JSONRPCMessage): unknown {
  const meta = metaOf(message);
  return meta === undefined ? undefined : meta[META.protocolVersion];
}

/** Whether a message travels on the modern path: it claims a revision, or is `server/discover`. */
export function isModernMessage(message: JSONRPCMessage): boolean {
  if (modernClaim(message) !== undefined) return true;
  return (message as { method?: unknown }).method === 'server/discover';
}

/** What a modern request says of its client, read from its `_meta`. */
export interface Envelope {
  protocolVersion: string;
  clientCapabilities: Params;
  clientInfo: { name: string; version: string } | undefined;
  logLevel: string | undefined;
}

/** Why an envelope is refused: the JSON-RPC error and the HTTP status it travels with. */
export interface EnvelopeError {
  status: number;
  code: number;
  message: string;
  data?: unknown;
}

const LOG_LEVELS = new Set([
  'debug',
  'info',
  'notice',
  'warning',
  'error',
  'critical',
  'alert',
  'emergency',
]);

/**
 * Reads and checks a modern request's envelope: the revision must be one the bridge serves
 * (`-32022` naming the supported ones), and `clientCapabilities` must be there (`-32602`).
 */
export function readEnvelope(message: JSONRPCRequest): Envelope | EnvelopeError {
  const meta = metaOf(message) ?? {};
  const version = meta[META.protocolVersion];
  if (version === undefined || typeof version !== 'string') {
    return {
      status: 400,
      code: -32602,
      message: `params._meta["${META.protocolVersion}"] is required on a 2026-07-28 request`,
    };
  }
  if (!MODERN_VERSIONS.includes(version)) {
    return {
      status: 400,
      code: -32022,
      message: `Unsupported protocol version: ${version}`,
      data: { supported: SERVED_VERSIONS, requested: version },
    };
  }
  const capabilities = meta[META.clientCapabilities];
  if (typeof capabilities !== 'object' || capabilities === null || Array.isArray(capabilities)) {
    return {
      status: 400,
      code: -32602,
      message: `params._meta["${META.clientCapabilities}"] is required and must be an object`,
    };
  }
  const info = meta[META.clientInfo] as { name?: unknown; version?: unknown } | undefined;
  const level = meta[META.logLevel];
  if (level !== undefined && (typeof level !== 'string' || !LOG_LEVELS.has(level))) {
    return {
      status: 400,
      code: -32602,
      message: `params._meta["${META.logLevel}"] must be a log level (debug … emergency)`,
    };
  }
  return {
    protocolVersion: version,
    clientCapabilities: capabilities as Params,
    clientInfo:
      typeof info === 'object' && info !== null && typeof info.name === 'string'
        ? { name: info.name, version: typeof info.version === 'string' ? info.version : '0' }
        : undefined,
    logLevel: level,
  };
}

/**
 * The client capabilities that carry over between the eras, either way: sampling, elicitation
 * and roots (roots without `listChanged`: a modern client is asked per request).
 */
export function carriedCapabilities(capabilities: unknown): Params {
  if (typeof capabilities !== 'object' || capabilities === null) return {};
  const c = capabilities as Params;
  const out: Params = {};
  if (c.sampling !== undefined) out.sampling = c.sampling;
  if (c.elicitation !== undefined) out.elicitation = c.elicitation;
  if (c.roots !== undefined) out.roots = {};
  return out;
}

/** The request's params without the envelope keys (a legacy server has no use for them). */
export function withoutEnvelope(params: unknown): Params | undefined {
  if (typeof params !== 'object' || params === null) return undefined;
  const { _meta, ...rest } = params as Params;
  if (typeof _meta !== 'object' || _meta === null) return rest;
  const meta: Params = { ...(_meta as Params) };
  for (const key of ENVELOPE_KEYS) delete meta[key];
  return Object.keys(meta).length === 0 ? rest : { ...rest, _meta: meta };
}

/** Caching hints for complete results: what the gateway may promise about reuse. */
export interface CacheHints {
  ttlMs: number;
  cacheScope: 'public' | 'private';
}

/**
 * A legacy result made modern: `resultType`, the server's identity in `_meta`, and caching hints
 * on the results that must carry them.
 */
export function modernResult(
  method: string,
  result: Params,
  serverInfo: unknown,
  cache: CacheHints,
): Params {
  const out: Params = { ...result, resultType: 'complete' };
  const meta =
    typeof result._meta === 'object' && result._meta !== null ? (result._meta as Params) : {};
  if (serverInfo !== undefined) out._meta = { ...meta, [META.serverInfo]: serverInfo };
  if (CACHEABLE_METHODS.has(method)) {
    out.ttlMs = cache.ttlMs;
    out.cacheScope = cache.cacheScope;
  }
  return out;
}

/**
 * A legacy error reply in modern terms: `-32002` (resource not found) is `-32602` now; the
 * rest carries over.
 */
export function modernError(reply: JSONRPCReply & { error: { code: number } }): JSONRPCReply {
  if (reply.error.code !== -32002) return reply;
  return { ...reply, error: { ...reply.error, code: -32602 } } as JSONRPCReply;
}

/** A JSON object rendering with sorted keys: a digest of params must not depend on key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const keys = Object.keys(value).sort();
    return `{${keys
      .filter((k) => (value as Params)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Params)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** What of a request's params a continuation is bound to: all but the round's own fields. */
export function retryIdentity(params: unknown): string {
  if (typeof params !== 'object' || params === null) return 'null';
  const rest: Params = { ...(params as Params) };
  delete rest._meta;
  delete rest.inputResponses;
  delete rest.requestState;
  return canonicalJson(rest);
}
