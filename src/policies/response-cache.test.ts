import { describe, expect, it } from 'vitest';
import type { Outcome } from '../core/policy.js';
import { messageContext } from '../../test/contexts.js';
import { MemoryCacheStore } from './cache-store.js';
import { responseCache, staleGroups } from './response-cache.js';
import type { BackendCacheSettings } from './response-cache.js';

/*
 * The caching step with a backend that is a counter (the integration tests use real backends;
 * here the decisions and the bounds are checked one by one, which a real server cannot be made
 * to exercise on demand).
 */

const settings = (over: Partial<BackendCacheSettings> = {}): BackendCacheSettings => ({
  methods: new Set(['tools/list', 'resources/read']),
  pureTools: undefined,
  ttlMs: 60_000,
  scope: 'private',
  maxTtlMs: 3_600_000,
  maxEntryBytes: 1024 * 1024,
  ...over,
});

/** A step over a backend answering `result(n)` to its n-th request. */
function harness(
  options: {
    store?: MemoryCacheStore;
    settings?: BackendCacheSettings;
    result?: (n: number) => Record<string, unknown>;
    drops?: { count: number };
  } = {},
) {
  const store = options.store ?? new MemoryCacheStore({ maxEntries: 100, maxBytes: 1 << 20 });
  const step = responseCache('b', store, options.settings ?? settings(), options.drops);
  let asked = 0;
  const make = options.result ?? ((n: number) => ({ n }));
  const run = async (method: string, params?: Record<string, unknown>, principal = 'alice') => {
    const ctx = messageContext({
      message: { jsonrpc: '2.0', id: 9, method, ...(params && { params }) },
      principal: { id: principal, scopes: [] },
    });
    const reply = (await step(ctx, async (): Promise<Outcome> => {
      asked++;
      return { jsonrpc: '2.0', id: 9, result: make(asked) };
    })) as { result: Record<string, unknown> };
    return reply.result;
  };
  return { run, store, asked: () => asked };
}

describe('responseCache', () => {
  it('keeps what it may and passes the rest through', async () => {
    const h = harness();
    expect(await h.run('tools/list')).toEqual({ n: 1 });
    expect(await h.run('tools/list', { _meta: { progressToken: 4 } })).toEqual({ n: 1 });
    expect(await h.run('prompts/list')).toEqual({ n: 2 }); // not in methods
    expect(await h.run('prompts/list')).toEqual({ n: 3 });
    expect(await h.run('tools/call', { name: 'x' })).toEqual({ n: 4 }); // no pure tools
    expect(await h.run('tools/call', { name: 'x' })).toEqual({ n: 5 });
  });

  it('never keeps input_required, isError or ttlMs 0 results, and caps a hinted lifetime', async () => {
    const results: Array<Record<string, unknown>> = [
      { resultType: 'input_required' },
      { isError: true },
      { ttlMs: 0 },
    ];
    const h = harness({
      settings: settings({ pureTools: /^t$/, methods: new Set(['tools/call', 'tools/list']) }),
      result: (n) => ({ ...results[Math.floor((n - 1) / 2)], n }),
    });
    await h.run('tools/list', { a: 1 });
    await h.run('tools/list', { a: 1 });
    await h.run('tools/call', { name: 't' });
    await h.run('tools/call', { name: 't' });
    await h.run('resources/read', { uri: 'x' });
    await h.run('resources/read', { uri: 'x' });
    expect(h.asked()).toBe(6);

    const capped = harness({
      settings: settings({ maxTtlMs: 20 }),
      result: (n) => ({ ttlMs: 3_600_000, cacheScope: 'public', n }),
    });
    await capped.run('resources/read', { uri: 'x' });
    await capped.run('resources/read', { uri: 'x' }, 'bob'); // public: shared
    expect(capped.asked()).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 40));
    await capped.run('resources/read', { uri: 'x' });
    expect(capped.asked()).toBe(2);
  });

  it('hands out a copy each time: whoever changes a reply does not change the entry', async () => {
    const h = harness({ result: () => ({ tools: [{ name: 'a' }] }) });
    const first = await h.run('tools/list');
    (first.tools as Array<{ name: string }>)[0]!.name = 'renamed';
    expect(await h.run('tools/list')).toEqual({ tools: [{ name: 'a' }] });
  });

  it('does not keep a result fetched across a drop', async () => {
    const drops = { count: 0 };
    const store = new MemoryCacheStore({ maxEntries: 10, maxBytes: 1 << 20 });
    const step = responseCache('b', store, settings(), drops);
    const ctx = () => messageContext({ message: { jsonrpc: '2.0', id: 1, method: 'tools/list' } });
    let asked = 0;
    const next = async (): Promise<Outcome> => {
      asked++;
      drops.count++; // a list_changed arrived while this list was in flight
      return { jsonrpc: '2.0', id: 1, result: { stale: true } };
    };
    await step(ctx(), next);
    await step(ctx(), next);
    expect(asked).toBe(2);
  });

  describe('requests made while the same one is being fetched', () => {
    /** A step whose backend answers only when `release` is called, counting what it is asked. */
    function held(answer: (n: number) => Outcome) {
      const store = new MemoryCacheStore({ maxEntries: 10, maxBytes: 1 << 20 });
      const step = responseCache('b', store, settings());
      let asked = 0;
      const waiting: Array<() => void> = [];
      const call = (id: number, principal = 'alice', method = 'tools/list') =>
        step(
          messageContext({
            message: { jsonrpc: '2.0', id, method },
            principal: { id: principal, scopes: [] },
          }),
          async () => {
            const n = ++asked;
            await new Promise<void>((resolve) => waiting.push(resolve));
            return answer(n);
          },
        );
      const release = async () => {
        // Let every call reach the backend (or start waiting for the one that did) first.
        for (let i = 0; i < 5; i++) await Promise.resolve();
        for (const go of waiting.splice(0)) go();
      };
      return { call, release, asked: () => asked };
    }
    const ok = (n: number): Outcome => ({ jsonrpc: '2.0', id: 0, result: { n } });

    it('wait for its answer, each under its own id, and the backend is asked once', async () => {
      const h = held(ok);
      const calls = [h.call(1), h.call(2), h.call(3)];
      await h.release();
      const replies = await Promise.all(calls);
      expect(h.asked()).toBe(1);
      expect(replies.map((r) => (r as { id: number }).id)).toEqual([0, 2, 3]);
      expect(replies.map((r) => (r as { result: unknown }).result)).toEqual([
        { n: 1 },
        { n: 1 },
        { n: 1 },
      ]);
    });

    it('of another caller is not shared: each asks the backend', async () => {
      const h = held(ok);
      const calls = [h.call(1, 'alice'), h.call(2, 'bob')];
      await h.release();
      await Promise.all(calls);
      expect(h.asked()).toBe(2);
    });

    it('ask for themselves when the first gets an error', async () => {
      const h = held((n) =>
        n === 1
          ? { jsonrpc: '2.0', id: 0, error: { code: -32603, message: 'backend hiccup' } }
          : ok(n),
      );
      const first = h.call(1);
      const second = h.call(2);
      for (let i = 0; i < 5; i++) await Promise.resolve();
      expect(h.asked()).toBe(1); // the second waits for the first's answer
      await h.release();
      expect(await first).toMatchObject({ error: { code: -32603 } });
      await h.release();
      expect(await second).toMatchObject({ id: 0, result: { n: 2 } });
      expect(h.asked()).toBe(2);
    });
  });

  it('says which groups a change notification makes stale', () => {
    const groups = (method: string) =>
      staleGroups('b', { jsonrpc: '2.0', method }).map((g) => g.split('\0')[1]);
    expect(groups('notifications/tools/list_changed')).toEqual(['tools/list', 'tools/call']);
    expect(groups('notifications/resources/updated')).toEqual(['resources/read']);
    expect(groups('notifications/progress')).toEqual([]);
  });
});

describe('MemoryCacheStore', () => {
  it('holds at most maxEntries, the least recently used going first', async () => {
    const store = new MemoryCacheStore({ maxEntries: 2, maxBytes: 1 << 20 });
    await store.set('g', 'a', '1', 60_000);
    await store.set('g', 'b', '2', 60_000);
    await store.get('g', ['a']);
    await store.set('g', 'c', '3', 60_000);
    expect(store.size).toBe(2);
    expect(await store.get('g', ['b'])).toBeUndefined();
    expect(await store.get('g', ['a', 'c'])).toBe('1');
  });

  it('holds at most maxBytes of keys and values, and drops a group at once', async () => {
    const store = new MemoryCacheStore({ maxEntries: 100, maxBytes: 100 });
    for (let i = 0; i < 10; i++) await store.set('g', `k${i}`, 'x'.repeat(30), 60_000);
    expect(store.size).toBeLessThanOrEqual(3);
    await store.drop(['g']);
    for (let i = 0; i < 10; i++) expect(await store.get('g', [`k${i}`])).toBeUndefined();
  });

  it('does not keep a result larger than maxEntryBytes', async () => {
    const h = harness({
      settings: settings({ maxEntryBytes: 10 }),
      result: (n) => ({ text: 'long enough to pass ten bytes', n }),
    });
    await h.run('tools/list');
    await h.run('tools/list');
    expect(h.asked()).toBe(2);
  });
});
