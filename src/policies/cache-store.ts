import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { Logger } from '../core/logger.js';
import { ThrottledWarning } from '../core/throttled-warning.js';

/*
 * Where cached results live: in this process (an LRU bounded by entries and bytes), or in Redis
 * so that every replica shares them. Entries belong to a group, one per backend and method;
 * dropping a group (a `list_changed` came) is what invalidation means. In memory a group is a
 * generation number in the key, so a drop costs nothing and stale entries age out of the LRU;
 * in Redis a group is one hash, deleted at once for every replica. A store that fails (Redis
 * away) answers "not cached": a cache must never fail a request.
 */

export interface CacheStore {
  /** The first of `keys` (within `group`) that holds a fresh result, as JSON text. */
  get(group: string, keys: readonly string[]): Promise<string | undefined>;
  set(group: string, key: string, json: string, ttlMs: number): Promise<void>;
  /** Forgets every entry of the groups. */
  drop(groups: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

export interface MemoryStoreOptions {
  /** Most entries. */
  maxEntries: number;
  /** Most bytes of keys and JSON together (counted as UTF-16 code units). */
  maxBytes: number;
}

export class MemoryCacheStore implements CacheStore {
  private readonly lru: LRUCache<string, string>;
  private readonly generations = new Map<string, number>();

  constructor(options: MemoryStoreOptions) {
    this.lru = new LRUCache({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      sizeCalculation: (value, key) => value.length + key.length || 1,
    });
  }

  private slot(group: string, key: string): string {
    return `${this.generations.get(group) ?? 0}\0${group}\0${key}`;
  }

  async get(group: string, keys: readonly string[]): Promise<string | undefined> {
    for (const key of keys) {
      const found = this.lru.get(this.slot(group, key));
      if (found !== undefined) return found;
    }
    return undefined;
  }

  async set(group: string, key: string, json: string, ttlMs: number): Promise<void> {
    this.lru.set(this.slot(group, key), json, { ttl: ttlMs });
  }

  async drop(groups: readonly string[]): Promise<void> {
    for (const group of groups) this.generations.set(group, (this.generations.get(group) ?? 0) + 1);
  }

  /** Entries held now (stale ones included until the LRU lets them go). */
  get size(): number {
    return this.lru.size;
  }

  async close(): Promise<void> {
    this.lru.clear();
  }
}

export interface RedisStoreOptions {
  /** `redis://…`, or a Unix socket path. */
  url: string;
  /** Prefix of every key (`redis.keyPrefix` + `cache:`). */
  prefix: string;
  /** Most entries one group may hold; past it the group is dropped and starts again. */
  maxEntriesPerGroup: number;
  log: Logger;
}

const digest = (text: string) => createHash('sha256').update(text).digest('base64url');

/**
 * One hash per group (`<prefix><group digest>`), one field per entry (`<key digest>`), each
 * value `<expiry ms>\n<json>`: Redis 7.0 has no expiry per hash field, so freshness is checked
 * on read, and the hash itself expires with its longest-lived entry.
 */
export class RedisCacheStore implements CacheStore {
  private readonly redis: Redis;
  private readonly warning: ThrottledWarning;

  constructor(private readonly options: RedisStoreOptions) {
    // Fail fast while Redis is away: a miss is better than a request waiting for it.
    const clientOptions = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: 1000,
    };
    this.redis = options.url.startsWith('/')
      ? new Redis({ ...clientOptions, path: options.url })
      : new Redis(options.url, clientOptions);
    this.redis.on('error', (error: Error) => options.log.debug({ err: error }, 'redis error'));
    this.warning = new ThrottledWarning(
      options.log,
      'response cache store (Redis) failed: requests go to their backends uncached',
    );
  }

  private hash(group: string): string {
    return `${this.options.prefix}${digest(group)}`;
  }

  private failed(error: unknown): undefined {
    this.warning.warn({ err: (error as Error).message });
    return undefined;
  }

  async get(group: string, keys: readonly string[]): Promise<string | undefined> {
    try {
      const values = await this.redis.hmget(this.hash(group), ...keys.map(digest));
      const now = Date.now();
      for (const value of values) {
        if (value === null) continue;
        const cut = value.indexOf('\n');
        if (Number(value.slice(0, cut)) > now) return value.slice(cut + 1);
      }
      return undefined;
    } catch (error) {
      return this.failed(error);
    }
  }

  async set(group: string, key: string, json: string, ttlMs: number): Promise<void> {
    const hash = this.hash(group);
    try {
      const results = await this.redis
        .multi()
        .hset(hash, digest(key), `${Date.now() + ttlMs}\n${json}`)
        // The hash lives as long as its longest-lived entry: NX gives a new hash its expiry, GT
        // lengthens it for a longer-lived entry.
        .pexpire(hash, ttlMs, 'NX')
        .pexpire(hash, ttlMs, 'GT')
        .hlen(hash)
        .exec();
      const length = results?.[3]?.[1];
      if (typeof length === 'number' && length > this.options.maxEntriesPerGroup)
        await this.redis.del(hash);
    } catch (error) {
      this.failed(error);
    }
  }

  async drop(groups: readonly string[]): Promise<void> {
    if (groups.length === 0) return;
    try {
      await this.redis.del(...groups.map((g) => this.hash(g)));
    } catch (error) {
      this.failed(error);
    }
  }

  async close(): Promise<void> {
    this.warning.flush();
    this.redis.disconnect();
  }
}
