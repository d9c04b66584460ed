import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ES module of the benchmark's, without types
import * as lib from '../../bench/lib/cluster.mjs';

/*
 * Three replicas (cluster.enabled), HAProxy in front and a Redis of their own (never the shared
 * 6379), as processes: the failure contract of docs/scaling.md, in short. `npm run
 * bench:cluster` runs the same scenarios longer and with more sessions, and prints the figures.
 */

interface Call {
  session: number;
  tag: string;
  started: number;
  ended: number;
  ok: boolean;
  kind: string;
  replica: string;
  counter?: number;
}
interface DriverLike {
  sessions: Array<{ index: number; sid: string; replica: string; reopened?: number }>;
  calls: Call[];
  open(): Promise<void>;
  start(): void;
  stop(): Promise<void>;
  summary(): {
    calls: number;
    ok: number;
    failed: number;
    kinds: Record<string, number>;
    lost: number;
  };
}
type Reply = {
  status: number;
  headers: Record<string, string>;
  body: string;
  messages: Array<{ id?: string; message: Record<string, unknown> }>;
  replica?: string;
};

const { Cluster, Driver, rpc, openSession, http, until, recoveries, duplicates, SECRET } = lib;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const haveTools = lib.hasHaproxy() as boolean;

/** Calls in flight at `at`: started before, ended after. */
const inflightAt = (calls: Call[], at: number) =>
  calls.filter((c) => c.started <= at && c.ended >= at).length;

/** An SSE POST read as it arrives. */
function streamPost(port: number, sid: string, body: unknown) {
  const events: Array<{ id?: string; data: string }> = [];
  let buffer = '';
  const done = new Promise<void>((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/mcp',
        headers: {
          host: '127.0.0.1',
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-session-id': sid,
        },
      },
      (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) !== -1) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const id = /^id: ?(.*)$/m.exec(block)?.[1];
            const data = block
              .split('\n')
              .filter((l) => l.startsWith('data:'))
              .map((l) => l.slice(5).trimStart())
              .join('\n');
            events.push({ id, data });
          }
        });
        res.on('end', resolve);
        res.on('error', () => resolve());
        res.on('aborted', () => resolve());
      },
    );
    req.on('error', () => resolve());
    req.end(JSON.stringify(body));
  });
  return { events, done };
}

describe.skipIf(!haveTools)('a cluster of three replicas behind HAProxy', () => {
  let cluster: InstanceType<typeof Cluster>;

  beforeAll(async () => {
    cluster = new Cluster({ replicas: 3, log: 'info' });
    // A second backend whose sessions end with their replica (failover: end).
    const configOf = cluster.configOf.bind(cluster);
    cluster.configOf = (name: string) => {
      const config = configOf(name);
      config.aggregate = { enabled: false };
      config.backends.ending = { ...config.backends.fixture, failover: 'end' };
      return config;
    };
    await cluster.start();
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
  }, 30_000);

  it('serves sessions through any replica: the owner directly, the others by forwarding', async () => {
    const { sid, replica } = await openSession(cluster.lbPort);
    expect(sid).toMatch(new RegExp(`^v1\\.${replica}\\.`));
    for (const name of cluster.names) {
      const reply: Reply = await rpc(cluster.port(name), sid, 1, 'tools/call', {
        name: 'incr',
        arguments: { tag: `fwd-${name}` },
      });
      expect(reply.status).toBe(200);
      expect(reply.replica).toBe(replica);
      expect(reply.headers['mcp-bridge-forwarded-by']).toBe(name === replica ? undefined : name);
    }
    // One backend process served all three calls: its counter went 1, 2, 3.
    const counters = cluster.execLogLines().filter((l: string) => l.includes(' fwd-'));
    expect(counters.map((l: string) => l.split(' ')[3])).toEqual(['1', '2', '3']);
  });

  it('refuses a forged session id before Redis, and a tampered forward', async () => {
    const { sid } = await openSession(cluster.lbPort);
    const forged = sid.replace(/\.[^.]+$/, '.AAAAAAAAAAA');
    const reply: Reply = await rpc(cluster.lbPort, forged, 1, 'tools/list', {});
    expect(reply.status).toBe(404);
    const other = sid.replace(/^v1\.r\d\./, 'v1.r9.');
    expect((await rpc(cluster.lbPort, other, 1, 'tools/list', {})).status).toBe(404);

    // A forward signed with another secret, and a genuine one altered in flight.
    const { signForward } = await import('../../dist/cluster/forward.js');
    const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }));
    const fake = {
      method: 'POST',
      url: '/mcp',
      headers: {
        host: '127.0.0.1',
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': sid,
      },
    };
    const envelope = { base: '', principal: undefined, client: '127.0.0.1', from: 'r9' };
    const owner = sid.split('.')[1]!;
    const send = (headers: Record<string, string | string[]>, payload: Buffer) =>
      http(cluster.clusterPort(owner), { method: 'POST', path: '/mcp', headers, body: payload });
    const wrongKey = signForward(
      'another-secret-of-at-least-32-chars!!',
      fake as never,
      body,
      envelope,
    );
    expect((await send(wrongKey, body)).status).toBe(403);
    const genuine = signForward(SECRET, fake as never, body, envelope);
    const tampered = Buffer.from(
      JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'incr' } }),
    );
    expect(
      (await send({ ...genuine, 'content-length': String(tampered.length) }, tampered)).status,
    ).toBe(403);
    // The genuine one is served, once: a replay of it is refused.
    expect((await send(genuine, body)).status).toBe(200);
    expect((await send(genuine, body)).status).toBe(403);
  });

  it('SIGKILL of a replica under load: no session lost, no call run twice, a stream resumed elsewhere', async () => {
    const driver: DriverLike = new Driver(cluster.lbPort, { sessions: 6, everyMs: 100 });
    await driver.open();
    // A session of r2's with a long streamed call in flight when r2 dies.
    let streamed: { sid: string; replica: string };
    do streamed = await openSession(cluster.lbPort);
    while (streamed.replica !== 'r2');
    const ended = await openSession(cluster.lbPort).then(async () => {
      // A session of the `failover: end` backend on r2, which must end (404) with it.
      for (;;) {
        const reply = await http(cluster.lbPort, {
          method: 'POST',
          path: '/servers/ending/mcp',
          headers: {
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
          },
          body: JSON.stringify({
            jsonrpc: '2.0',
            id: 0,
            method: 'initialize',
            params: {
              protocolVersion: '2025-06-18',
              capabilities: {},
              clientInfo: { name: 't', version: '1' },
            },
          }),
        });
        if (reply.headers['mcp-bridge-replica'] === 'r2')
          return reply.headers['mcp-session-id'] as string;
      }
    });
    driver.start();
    await sleep(1000);
    const stream = streamPost(cluster.lbPort, streamed.sid, {
      jsonrpc: '2.0',
      id: 'long',
      method: 'tools/call',
      params: { name: 'slow', arguments: { steps: 20, ms: 100 }, _meta: { progressToken: 'p' } },
    });
    await until(() => stream.events.length >= 4, 5000);
    const killedAt = Date.now();
    await cluster.kill('r2');
    await stream.done;
    await sleep(2500);
    await driver.stop();

    const summary = driver.summary();
    expect(summary.lost).toBe(0);
    const inflight = inflightAt(driver.calls, killedAt);
    expect(summary.failed).toBeLessThanOrEqual(inflight + 1);
    const recovery: number[] = recoveries(driver, 'r2', killedAt);
    expect(recovery.length).toBeGreaterThan(0);
    // Every session of the dead replica succeeded again (how fast is bench:cluster's to say).
    expect(recovery.every((ms) => Number.isFinite(ms))).toBe(true);
    const { duplicates: dup, missing } = duplicates(cluster, driver);
    expect(dup).toEqual([]);
    expect(missing).toEqual([]);
    expect(cluster.orphans()).toEqual([]);
    // The adopted sessions are re-owned one epoch up.
    const adopted = driver.sessions.find((s) => s.sid.startsWith('v1.r2.'))!;
    expect(cluster.redisCli('HGET', `mcpc:s:{${adopted.sid}}`, 'epoch')).toBe('2');

    // The stream: resumed through HAProxy (on r1 or r3) from the last event seen, it gives the
    // rest of what r2 sent, then the definite retryable error for the call.
    const last = stream.events.at(-1)!.id!;
    const resumed: Reply = await lib.http(cluster.lbPort, {
      method: 'GET',
      path: '/mcp',
      headers: {
        accept: 'text/event-stream',
        'mcp-session-id': streamed.sid,
        'last-event-id': last,
      },
    });
    expect(resumed.status).toBe(200);
    const events = lib.messagesOf(resumed) as Array<{
      id: string;
      message: { id?: string; error?: { data?: { code?: string; retryable?: boolean } } };
    }>;
    const final = events.at(-1)!.message;
    expect(final.id).toBe('long');
    expect(final.error?.data).toMatchObject({ code: 'GATEWAY_BACKEND_RESTARTED', retryable: true });
    // No gap: the ids seen live and resumed follow each other.
    const seqs = [...stream.events.map((e) => e.id!), ...events.map((e) => e.id)].map((id) =>
      Number(id.split('_')[1]),
    );
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));

    // failover: end: the session of that backend is gone with its replica, said at once.
    const gone = await http(cluster.lbPort, {
      method: 'POST',
      path: '/servers/ending/mcp',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': ended,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(gone.status).toBe(404);
  }, 40_000);

  it('SIGTERM drains a replica: its sessions are handed over with no failed call', async () => {
    await cluster.startReplica('r2');
    await sleep(1200);
    const driver: DriverLike = new Driver(cluster.lbPort, { sessions: 6, everyMs: 100 });
    await driver.open();
    driver.start();
    await sleep(800);
    await cluster.term('r3');
    await sleep(1000);
    await driver.stop();
    const summary = driver.summary();
    expect(summary).toMatchObject({ failed: 0, lost: 0 });
    expect(cluster.logOf('r3')).toContain('drained: sessions handed over');
    expect(cluster.orphans()).toEqual([]);
  }, 40_000);

  it('a paused owner is superseded, then fences itself: no session served by two replicas', async () => {
    await cluster.startReplica('r3');
    await sleep(1200);
    // A client that gives up on a call after 1 s, as one with a retry would: a session whose call
    // was in flight on r1 at the pause then sends again while r1 is still stopped, and is adopted.
    // (With a timeout as long as the pause, its next call comes as r1 wakes, r1 renews its
    // heartbeat first and keeps the session, which is right but moves nothing.)
    const driver: DriverLike = new Driver(cluster.lbPort, {
      sessions: 6,
      everyMs: 100,
      timeoutMs: 1000,
    });
    await driver.open();
    driver.start();
    await sleep(600);
    const pausedAt = Date.now();
    cluster.signal('r1', 'SIGSTOP');
    await sleep(3000);
    cluster.signal('r1', 'SIGCONT');
    await sleep(1500);
    await driver.stop();
    expect(cluster.logOf('r1')).toContain('fenced');
    // Once a session of r1's was served elsewhere, r1 served no call of it sent after that.
    for (const s of driver.sessions.filter((x) => x.sid.startsWith('v1.r1.'))) {
      const calls = driver.calls.filter((c) => c.session === s.index && c.ok);
      const moved = calls.find((c) => c.started > pausedAt && c.replica !== 'r1');
      expect(moved, s.sid).toBeDefined();
      const back = calls.filter((c) => c.started > moved!.ended && c.replica === 'r1');
      expect(back).toEqual([]);
    }
    expect(driver.summary().lost).toBe(0);
    // Each of r1's copies that was superseded closed (and its backend process with it).
    const r1Sessions = driver.sessions.filter((x) => x.sid.startsWith('v1.r1.')).length;
    const fenced = cluster
      .logOf('r1')
      .split('\n')
      .filter((l: string) => l.includes('fenced:')).length;
    expect(fenced).toBeGreaterThanOrEqual(r1Sessions);
  }, 40_000);

  it('Redis down: owners keep serving, non-owners answer 503 with Retry-After; then all is back', async () => {
    const { sid, replica } = await openSession(cluster.lbPort);
    const other = cluster.names.find((n: string) => n !== replica)!;
    await cluster.killRedis();
    await sleep(800);
    const own: Reply = await rpc(cluster.port(replica), sid, 1, 'tools/call', {
      name: 'incr',
      arguments: { tag: 'redis-down-1' },
    });
    expect(own.status).toBe(200);
    const away: Reply = await rpc(cluster.port(other), sid, 2, 'tools/call', {
      name: 'incr',
      arguments: { tag: 'redis-down-2' },
    });
    expect(away.status).toBe(503);
    expect(away.headers['retry-after']).toBe('1');
    await cluster.startRedis();
    // Redis restarted empty: the owner writes its record back, and forwarding works again.
    await until(
      async () =>
        (
          await rpc(cluster.port(other), sid, 3, 'tools/call', {
            name: 'incr',
            arguments: { tag: `back-${Date.now()}` },
          })
        ).status === 200,
      8000,
      200,
      'forwarding after Redis is back',
    );
    expect(cluster.redisCli('HGET', `mcpc:s:{${sid}}`, 'owner')).toBe(replica);
    expect(cluster.logOf(replica)).toContain('session store (Redis) lost');
    expect(cluster.logOf(replica)).toContain('session store (Redis) back');
  }, 30_000);
});
