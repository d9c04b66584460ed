import type { BackendConfig, GatewayConfig } from '../config/schema.js';
import { channels } from '../core/diagnostics.js';
import { globMatcher } from '../core/glob.js';
import type { JSONRPCNotification, JSONRPCReply } from '../core/jsonrpc.js';
import type { Logger } from '../core/logger.js';
import type { Policy } from '../core/policy.js';
import { canonicalJson } from '../era/modern.js';
import { MemoryCacheStore, RedisCacheStore } from './cache-store.js';
import type { CacheStore } from './cache-store.js';

/*
 * Results a backend would give again, given again without asking it (`cache`, docs/traffic.md).
 * What may be cached is narrow on purpose: the list methods, `resources/read` when the server
 * marks the result (`ttlMs`, 2026-07-28) or the operator lists the method, and `tools/call` only
 * for tools the operator names as pure. The server's hints decide where it gives them: `ttlMs`
 * (capped by `cache.maxTtlMs`; 0 is "do not keep") and `cacheScope` (`public`: one entry for
 * every caller; `private`: one per principal); results without hints get the backend's `ttlMs`
 * and `scope`. The key is the backend, the method, the params without `_meta` (key order does
 * not matter) and, for private entries, the principal. A `list_changed` or `resources/updated`
 * from the backend drops what it makes stale. Authorization and the tool view run outside this
 * step, so a shared list is still filtered per caller. A request that comes while the same one of
 * the same caller is being fetched waits for that answer rather than asking again.
 */

type Scope = 'public' | 'private';

/** What each change notification makes stale. */
const STALE_AFTER: Readonly<Record<string, readonly string[]>> = {
  'notifications/tools/list_changed': ['tools/list', 'tools/call'],
  'notifications/prompts/list_changed': ['prompts/list'],
  'notifications/resources/list_changed': [
    'resources/list',
    'resources/templates/list',
    'resources/read',
  ],
  'notifications/resources/updated': ['resources/read'],
};

export interface BackendCacheSettings {
  /** Methods cached without a hint from the server. */
  methods: ReadonlySet<string>;
  /** Tools (by the backend's own names) whose calls are pure: same arguments, same result. */
  pureTools: RegExp | undefined;
  /** Lifetime of results without a `ttlMs` hint. */
  ttlMs: number;
  /** Scope of results without a `cacheScope` hint. */
  scope: Scope;
  /** Longest lifetime, hints included. */
  maxTtlMs: number;
  /** Larger results (as JSON text) are not kept. */
  maxEntryBytes: number;
}

const groupOf = (backend: string, method: string) => `${backend}\0${method}`;

function paramsKey(params: Record<string, unknown> | undefined): string {
  if (params === undefined) return '{}';
  if (params._meta === undefined) return canonicalJson(params);
  const rest = { ...params };
  delete rest._meta;
  return canonicalJson(rest);
}

/** How long, and for whom, `result` may be kept; undefined: not at all. */
function keepFor(
  method: string,
  result: Record<string, unknown>,
  settings: BackendCacheSettings,
): { ttlMs: number; scope: Scope } | undefined {
  if (result.resultType === 'input_required') return undefined;
  if (method === 'tools/call' && result.isError === true) return undefined;
  const hinted = typeof result.ttlMs === 'number' ? result.ttlMs : undefined;
  if (hinted === undefined && !settings.methods.has(method)) return undefined;
  const ttlMs = Math.min(hinted ?? settings.ttlMs, settings.maxTtlMs);
  if (!(ttlMs >= 1)) return undefined;
  const scope =
    result.cacheScope === 'public' || result.cacheScope === 'private'
      ? result.cacheScope
      : settings.scope;
  return { ttlMs: Math.floor(ttlMs), scope };
}

/** The caching step of one backend's chain. */
export function responseCache(
  backend: string,
  store: CacheStore,
  settings: BackendCacheSettings,
  /** Counts drops: a result fetched across one may be stale already, and is not kept. */
  drops: { count: number } = { count: 0 },
): Policy {
  // Misses being fetched, by their private key: the same request of the same caller meanwhile
  // waits for that answer instead of asking the backend again (request deduplication). What it
  // gets is the JSON text of a result that may be kept, or undefined: then it asks for itself.
  const fetching = new Map<string, Promise<string | undefined>>();
  const lookedUp = new Set<string>(settings.methods);
  // A server may mark any read result, whether or not the operator listed the method.
  lookedUp.add('resources/read');
  if (settings.pureTools === undefined) lookedUp.delete('tools/call');
  return async (ctx, next) => {
    const { method, params } = ctx.message;
    if (!lookedUp.has(method)) return next();
    if (method === 'tools/call') {
      const name = params?.name;
      if (typeof name !== 'string' || !settings.pureTools!.test(name)) return next();
    }
    const group = groupOf(backend, method);
    const base = paramsKey(params);
    const privateKey = `${base}\0private:${ctx.principal?.id ?? ''}`;
    const publicKey = `${base}\0public`;
    const fetchKey = `${group}\0${privateKey}`;
    let found = await store.get(group, [publicKey, privateKey]);
    // Checked and claimed in one turn, so that of the same requests one asks the backend.
    const pending = found === undefined ? fetching.get(fetchKey) : undefined;
    const first = found === undefined && pending === undefined;
    let share!: (json: string | undefined) => void;
    if (first) fetching.set(fetchKey, new Promise((resolve) => (share = resolve)));
    if (pending) found = await pending;
    if (channels.cacheLookup.hasSubscribers)
      channels.cacheLookup.publish({ backend, method, result: found ? 'hit' : 'miss' });
    if (found !== undefined) {
      return {
        jsonrpc: '2.0',
        id: ctx.message.id,
        result: JSON.parse(found) as Record<string, unknown>,
      } as JSONRPCReply;
    }
    let json: string | undefined;
    try {
      const before = drops.count;
      const reply = await next();
      if (reply === undefined || !('result' in reply) || ctx.cancelled !== undefined) return reply;
      const result = reply.result as Record<string, unknown>;
      const keep = keepFor(method, result, settings);
      if (keep === undefined || drops.count !== before) return reply;
      // Kept as text: whoever handles the reply next may change its objects in place.
      json = JSON.stringify(result);
      if (json.length <= settings.maxEntryBytes) {
        await store.set(group, keep.scope === 'public' ? publicKey : privateKey, json, keep.ttlMs);
      }
      return reply;
    } finally {
      if (first) {
        fetching.delete(fetchKey);
        share(json);
      }
    }
  };
}

/** The groups a notification from `backend` makes stale; empty for most. */
export function staleGroups(backend: string, message: JSONRPCNotification): string[] {
  const methods = STALE_AFTER[message.method];
  return methods ? methods.map((m) => groupOf(backend, m)) : [];
}

/** The cache of one gateway: its store, and each backend's step and change hook. */
export interface ResponseCache {
  /** The backend's caching step and its notification hook; undefined when it caches nothing. */
  forBackend(
    name: string,
    config: Readonly<BackendConfig>,
  ): { policy: Policy; observe: (message: JSONRPCNotification) => void } | undefined;
  close(): Promise<void>;
}

/** Undefined when no backend caches anything: then nothing of this runs. */
export function createResponseCache(
  config: Readonly<GatewayConfig>,
  log: Logger,
): ResponseCache | undefined {
  const cache = config.cache;
  const enabledFor = (backend: Readonly<BackendConfig>) => backend.cache?.enabled ?? cache.enabled;
  if (!Object.values(config.backends).some(enabledFor)) return undefined;
  const store: CacheStore =
    cache.store === 'redis'
      ? new RedisCacheStore({
          url: config.redis.url!,
          prefix: `${config.redis.keyPrefix}cache:`,
          maxEntriesPerGroup: cache.maxEntries,
          log,
        })
      : new MemoryCacheStore({ maxEntries: cache.maxEntries, maxBytes: cache.maxBytes });
  const drops = { count: 0 };
  // A shared process hands one notification object to each of its sessions: one drop is enough.
  const heard = new WeakSet<JSONRPCNotification>();
  return {
    forBackend(name, backend) {
      if (!enabledFor(backend)) return undefined;
      const own = backend.cache;
      const methods = new Set<string>(own?.methods ?? cache.methods);
      const pureTools = globMatcher(own?.pureTools);
      if (pureTools) methods.add('tools/call');
      const policy = responseCache(
        name,
        store,
        {
          methods,
          pureTools,
          ttlMs: own?.ttlMs ?? cache.ttlMs,
          scope: own?.scope ?? cache.scope,
          maxTtlMs: cache.maxTtlMs,
          maxEntryBytes: cache.maxEntryBytes,
        },
        drops,
      );
      const observe = (message: JSONRPCNotification) => {
        const groups = staleGroups(name, message);
        if (groups.length === 0 || heard.has(message)) return;
        heard.add(message);
        drops.count++;
        if (channels.cacheInvalidate.hasSubscribers)
          channels.cacheInvalidate.publish({ backend: name, notification: message.method });
        void store.drop(groups);
      };
      return { policy, observe };
    },
    close: () => store.close(),
  };
}
