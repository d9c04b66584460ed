import { Cluster, Redis } from 'ioredis';
import type { Logger } from '../core/logger.js';

/*
 * What the replicas of a cluster share in Redis, and nothing else reads or writes these keys.
 * Keys (prefix `redis.keyPrefix`; `{sid}` is a hash tag, so that one session's keys share a
 * Redis Cluster slot):
 *   s:{sid}           HASH  owner, epoch, endpoint, backend, failover, principal, init, version,
 *                           logLevel, created, touched      (TTL: sessions.idleTimeoutMs)
 *   s:{sid}:subs      SET   subscribed resource URIs
 *   s:{sid}:f         HASH  request id (JSON) → stream id, for requests answered on a stream
 *   s:{sid}:es        SET   stream ids that have events in Redis
 *   e:{sid}:<stream>  STREAM the stream's SSE events, entry id `<seq>-1`
 *   {replicas}        SET   replica ids; {replicas}:<id> STRING heartbeat, TTL cluster.ttlMs
 */

export interface SessionRecord {
  owner: string;
  epoch: number;
  /** The Streamable HTTP endpoint's base: `''` (the root path) or `/servers/<name>`. */
  endpoint: string;
  /** The backend's name, or `*`: whose `failover` applies. */
  backend: string;
  failover: 'reinitialize' | 'end';
  /** sha256 of the principal's id, `''` for an anonymous session. */
  principal: string;
  /** The client's `initialize` request, as it sent it. */
  init: string;
  version: string;
  logLevel: string;
  subscriptions: string[];
  /** Requests answered on a stream, in flight: id (JSON) → stream id. */
  inflight: Record<string, string>;
}

export interface Heartbeat {
  addr: string;
  pid: number;
  startedAt: number;
  /** When it was renewed, by the replica's clock. */
  at: number;
}

const CLAIM = `
local o = redis.call('HGET', KEYS[1], 'owner')
if not o then return -1 end
if o ~= ARGV[1] or redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[2] then return 0 end
local n = tonumber(ARGV[2]) + 1
redis.call('HSET', KEYS[1], 'owner', ARGV[3], 'epoch', n, 'touched', ARGV[5])
for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[4]) end
return n`;

const RELEASE = `
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] and redis.call('HGET', KEYS[1], 'epoch') == ARGV[2] then
  redis.call('HSET', KEYS[1], 'owner', '')
  return 1
end
return 0`;

/** Deletes a session's keys if `owner` still holds it at `epoch`. */
const END = `
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] and redis.call('HGET', KEYS[1], 'epoch') == ARGV[2] then
  redis.call('DEL', unpack(KEYS))
  return 1
end
return 0`;

/** Deletes a session's keys whoever holds it (failover: end). */
const DROP_IF_EPOCH = `
if redis.call('HGET', KEYS[1], 'epoch') == ARGV[1] then
  redis.call('DEL', unpack(KEYS))
  return 1
end
return 0`;

/**
 * After Redis came back: writes the record of a session this replica serves if Redis lost it;
 * returns the epoch that holds now and whether it is ours.
 */
const RESTORE = `
local o = redis.call('HGET', KEYS[1], 'owner')
if not o then
  redis.call('HSET', KEYS[1], unpack(ARGV, 3))
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if o == ARGV[1] and redis.call('HGET', KEYS[1], 'epoch') == ARGV[3 + 3] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`;

/** Appends an event with an explicit sequence number and keeps the stream bounded. */
const APPEND = `
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], ARGV[1] .. '-1', 'd', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1`;

export type RedisClient = Redis | Cluster;

export interface ClusterStoreOptions {
  url: string;
  prefix: string;
  log: Logger;
  /** Longest a command may take before it counts as failed (Redis is down or stalled). */
  commandTimeoutMs: number;
  /** A session's keys live this long without a touch (`sessions.idleTimeoutMs`). */
  idleMs: number;
  eventsPerStream: number;
}

/**
 * `redis://…`, `rediss://…`, a Unix socket path, `redis-cluster://h1:p1,h2:p2` (Redis Cluster) or
 * `redis-sentinel://h1:p1,h2:p2/<master name>` (Sentinel).
 */
export function connect(url: string, commandTimeoutMs: number): RedisClient {
  const common = {
    // A command while disconnected fails at once instead of waiting in a queue: a non-owner
    // then answers 503 at once, and an owner goes on serving.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: commandTimeoutMs,
    enableAutoPipelining: true,
    lazyConnect: true,
    retryStrategy: (times: number) => Math.min(100 * times, 1000),
  };
  if (url.startsWith('redis-cluster://')) {
    const nodes = url
      .slice('redis-cluster://'.length)
      .split(',')
      .map((hostPort) => {
        const [host, port] = hostPort.split(':');
        return { host: host!, port: Number(port ?? 6379) };
      });
    return new Cluster(nodes, {
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      lazyConnect: true,
      redisOptions: common,
    });
  }
  if (url.startsWith('redis-sentinel://')) {
    const [hosts, name] = url.slice('redis-sentinel://'.length).split('/');
    const sentinels = hosts!.split(',').map((hostPort) => {
      const [host, port] = hostPort.split(':');
      return { host: host!, port: Number(port ?? 26379) };
    });
    return new Redis({ ...common, sentinels, name: name || 'mymaster' });
  }
  if (url.startsWith('/')) return new Redis({ ...common, path: url });
  return new Redis(url, common);
}

export class ClusterStore {
  readonly redis: RedisClient;
  private readonly p: string;

  constructor(private readonly options: ClusterStoreOptions) {
    this.redis = connect(options.url, options.commandTimeoutMs);
    this.p = options.prefix;
    this.redis.defineCommand('bridgeClaim', { lua: CLAIM });
    this.redis.defineCommand('bridgeRelease', { lua: RELEASE, numberOfKeys: 1 });
    this.redis.defineCommand('bridgeEnd', { lua: END });
    this.redis.defineCommand('bridgeDropIfEpoch', { lua: DROP_IF_EPOCH });
    this.redis.defineCommand('bridgeRestore', { lua: RESTORE, numberOfKeys: 1 });
    this.redis.defineCommand('bridgeAppend', { lua: APPEND, numberOfKeys: 1 });
  }

  get ready(): boolean {
    return this.redis.status === 'ready';
  }

  // ── keys ──────────────────────────────────────────────────────────────────────────────

  private rec(sid: string): string {
    return `${this.p}s:{${sid}}`;
  }
  private subs(sid: string): string {
    return `${this.p}s:{${sid}}:subs`;
  }
  private flight(sid: string): string {
    return `${this.p}s:{${sid}}:f`;
  }
  private streams(sid: string): string {
    return `${this.p}s:{${sid}}:es`;
  }
  private events(sid: string, stream: string): string {
    return `${this.p}e:{${sid}}:${stream}`;
  }
  private replicas(): string {
    return `${this.p}{replicas}`;
  }
  private beat(id: string): string {
    return `${this.p}{replicas}:${id}`;
  }

  // ── replicas ──────────────────────────────────────────────────────────────────────────

  /** Renews this replica's heartbeat and returns the live replicas' heartbeats. */
  async heartbeat(id: string, beat: Heartbeat, ttlMs: number): Promise<Map<string, Heartbeat>> {
    const [, , members] = (await this.redis
      .multi()
      .set(this.beat(id), JSON.stringify(beat), 'PX', ttlMs)
      .sadd(this.replicas(), id)
      .smembers(this.replicas())
      .exec())!.map(([error, value]) => {
      if (error) throw error;
      return value;
    }) as [unknown, unknown, string[]];
    const live = new Map<string, Heartbeat>();
    if (members.length === 0) return live;
    const beats = await this.redis.mget(members.map((m) => this.beat(m)));
    const gone: string[] = [];
    members.forEach((member, i) => {
      const text = beats[i];
      if (text) live.set(member, JSON.parse(text) as Heartbeat);
      else gone.push(member);
    });
    // Forget replicas long dead, so the set does not grow with every pod ever started.
    if (gone.length > 0 && Math.random() < 0.05) await this.redis.srem(this.replicas(), ...gone);
    return live;
  }

  async leave(id: string): Promise<void> {
    await this.redis.multi().del(this.beat(id)).srem(this.replicas(), id).exec();
  }

  // ── session records ───────────────────────────────────────────────────────────────────

  private fields(record: SessionRecord): string[] {
    return [
      'owner',
      record.owner,
      'epoch',
      String(record.epoch),
      'endpoint',
      record.endpoint,
      'backend',
      record.backend,
      'failover',
      record.failover,
      'principal',
      record.principal,
      'init',
      record.init,
      'version',
      record.version,
      'logLevel',
      record.logLevel,
      'touched',
      String(Date.now()),
    ];
  }

  async create(sid: string, record: SessionRecord): Promise<void> {
    const m = this.redis.multi();
    m.hset(this.rec(sid), ...this.fields(record), 'created', String(Date.now()));
    m.pexpire(this.rec(sid), this.options.idleMs);
    await m.exec();
  }

  async read(sid: string): Promise<SessionRecord | undefined> {
    const [hash, subs, flight] = (await this.redis
      .multi()
      .hgetall(this.rec(sid))
      .smembers(this.subs(sid))
      .hgetall(this.flight(sid))
      .exec())!.map(([error, value]) => {
      if (error) throw error;
      return value;
    }) as [Record<string, string>, string[], Record<string, string>];
    if (hash.owner === undefined) return undefined;
    return {
      owner: hash.owner,
      epoch: Number(hash.epoch),
      endpoint: hash.endpoint ?? '',
      backend: hash.backend ?? '',
      failover: hash.failover === 'end' ? 'end' : 'reinitialize',
      principal: hash.principal ?? '',
      init: hash.init ?? '',
      version: hash.version ?? '',
      logLevel: hash.logLevel ?? '',
      subscriptions: subs,
      inflight: flight,
    };
  }

  /** Moves a session to `owner` if it is still `from`'s at `epoch`: the new epoch, 0 if lost, -1 if gone. */
  async claim(sid: string, from: string, epoch: number, owner: string): Promise<number> {
    const keys = [this.rec(sid), this.subs(sid), this.flight(sid), this.streams(sid)];
    return (await (this.redis as unknown as ClaimCommands).bridgeClaim(
      keys.length,
      ...keys,
      from,
      String(epoch),
      owner,
      String(this.options.idleMs),
      String(Date.now()),
    )) as number;
  }

  /** Gives a session up (drain): the next request for it is adopted elsewhere. */
  async release(sid: string, owner: string, epoch: number): Promise<boolean> {
    const redis = this.redis as unknown as ClaimCommands;
    return (await redis.bridgeRelease(this.rec(sid), owner, String(epoch))) === 1;
  }

  private async allKeys(sid: string): Promise<string[]> {
    const streams = await this.redis.smembers(this.streams(sid));
    return [
      this.rec(sid),
      this.subs(sid),
      this.flight(sid),
      this.streams(sid),
      ...streams.map((s) => this.events(sid, s)),
    ];
  }

  /** A session ended for good: its keys go, if `owner` still holds it at `epoch`. */
  async end(sid: string, owner: string, epoch: number): Promise<void> {
    const keys = await this.allKeys(sid);
    await (this.redis as unknown as ClaimCommands).bridgeEnd(
      keys.length,
      ...keys,
      owner,
      String(epoch),
    );
  }

  /** `failover: end`: a dead replica's session goes, unless someone adopted it meanwhile. */
  async drop(sid: string, epoch: number): Promise<boolean> {
    const keys = await this.allKeys(sid);
    const redis = this.redis as unknown as ClaimCommands;
    return (await redis.bridgeDropIfEpoch(keys.length, ...keys, String(epoch))) === 1;
  }

  /** Who holds each of `sids` now: `owner`/`epoch`, or undefined where the record has gone. */
  async owners(sids: string[]): Promise<Array<{ owner: string; epoch: number } | undefined>> {
    // One command each (auto-pipelined, and split by slot under Redis Cluster).
    const held = await Promise.all(
      sids.map((sid) => this.redis.hmget(this.rec(sid), 'owner', 'epoch')),
    );
    return held.map(([owner, epoch]) =>
      owner === null || owner === undefined ? undefined : { owner, epoch: Number(epoch) },
    );
  }

  /** Keeps an active session's keys from expiring. */
  touch(sid: string): Promise<unknown> {
    const keys = [this.rec(sid), this.subs(sid), this.flight(sid), this.streams(sid)];
    return Promise.all(keys.map((key) => this.redis.pexpire(key, this.options.idleMs)));
  }

  /** After Redis was away: puts back the record of a session this replica serves; false if it is another's now. */
  async restore(sid: string, record: SessionRecord): Promise<boolean> {
    const redis = this.redis as unknown as ClaimCommands;
    const ok = (await redis.bridgeRestore(
      this.rec(sid),
      record.owner,
      String(this.options.idleMs),
      ...this.fields(record),
    )) as number;
    if (ok === 1 && record.subscriptions.length > 0)
      await this.redis.sadd(this.subs(sid), ...record.subscriptions);
    return ok === 1;
  }

  setLogLevel(sid: string, level: string): Promise<unknown> {
    return this.redis.hset(this.rec(sid), 'logLevel', level);
  }

  subscribe(sid: string, uri: string, on: boolean): Promise<unknown> {
    if (!on) return this.redis.srem(this.subs(sid), uri);
    return this.redis
      .multi()
      .sadd(this.subs(sid), uri)
      .pexpire(this.subs(sid), this.options.idleMs)
      .exec();
  }

  inflight(sid: string, id: string, stream: string | undefined): Promise<unknown> {
    if (stream === undefined) return this.redis.hdel(this.flight(sid), id);
    return this.redis
      .multi()
      .hset(this.flight(sid), id, stream)
      .pexpire(this.flight(sid), this.options.idleMs)
      .exec();
  }

  clearInflight(sid: string): Promise<unknown> {
    return this.redis.del(this.flight(sid));
  }

  // ── events ────────────────────────────────────────────────────────────────────────────

  /** Appends one event; `first` when it is the stream's first in Redis (it is listed then). */
  append(sid: string, stream: string, seq: number, json: string, first: boolean): Promise<unknown> {
    const redis = this.redis as unknown as ClaimCommands;
    const key = this.events(sid, stream);
    const done = redis.bridgeAppend(
      key,
      String(seq),
      json,
      String(this.options.eventsPerStream),
      String(this.options.idleMs),
    );
    if (!first) return done;
    return Promise.all([
      done,
      this.redis
        .multi()
        .sadd(this.streams(sid), stream)
        .pexpire(this.streams(sid), this.options.idleMs)
        .exec(),
    ]);
  }

  /**
   * The events of a stream after `seq`; undefined when an event after `seq` has been dropped
   * (or never reached Redis), so that a gap cannot be ruled out.
   */
  async replay(
    sid: string,
    stream: string,
    seq: number,
  ): Promise<Array<{ seq: number; json: string }> | undefined> {
    const key = this.events(sid, stream);
    const [oldest, after] = (await this.redis
      .multi()
      .xrange(key, '-', '+', 'COUNT', 1)
      .xrange(key, `${seq + 1}-0`, '+')
      .exec())!.map(([error, value]) => {
      if (error) throw error;
      return value;
    }) as [Array<[string, string[]]>, Array<[string, string[]]>];
    if (oldest.length === 0) return seq === 0 ? [] : undefined;
    const first = Number(oldest[0]![0].split('-')[0]);
    if (first > seq + 1) return undefined;
    return after.map(([id, fields]) => ({ seq: Number(id.split('-')[0]), json: fields[1]! }));
  }

  /** The sequence number of a stream's last event in Redis (0 when it has none). */
  async lastSeq(sid: string, stream: string): Promise<number> {
    const last = await this.redis.xrevrange(this.events(sid, stream), '+', '-', 'COUNT', 1);
    return last.length === 0 ? 0 : Number(last[0]![0].split('-')[0]);
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}

interface ClaimCommands {
  bridgeClaim(...args: Array<string | number>): Promise<unknown>;
  bridgeRelease(key: string, owner: string, epoch: string): Promise<unknown>;
  bridgeEnd(...args: Array<string | number>): Promise<unknown>;
  bridgeDropIfEpoch(...args: Array<string | number>): Promise<unknown>;
  bridgeRestore(key: string, ...args: string[]): Promise<unknown>;
  bridgeAppend(key: string, ...args: string[]): Promise<unknown>;
}
