#!/usr/bin/env node
/*
 * `npm run bench:cluster`: the scale-out scenarios of docs/scaling.md on one machine, as
 * processes: 3 replicas (cluster.enabled, the counting fixture as backend), HAProxy from Debian
 * routing by session-id prefix, and a Redis of its own on its own port (never the shared 6379).
 * A driver keeps N sessions each calling a tool every 100 ms (N=30: about 300 calls/s, sized for
 * 2 cores). Prints the figures of each scenario, then a JSON summary on the last line.
 *
 *   node bench/cluster.mjs [--sessions 30] [--seconds 20] [--only kill,drain,...]
 */
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Cluster,
  Driver,
  duplicates,
  hasHaproxy,
  http,
  messagesOf,
  openSession,
  percentile,
  recoveries,
} from './lib/cluster.mjs';

const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '30' },
    seconds: { type: 'string', default: '20' },
    only: { type: 'string' },
  },
});
const SESSIONS = Number(values.sessions);
const SECONDS = Number(values.seconds);
const only = values.only ? new Set(values.only.split(',')) : undefined;
const results = {};

if (!hasHaproxy()) {
  process.stderr.write(
    'bench:cluster needs haproxy and redis-server (apt-get install haproxy redis-server)\n',
  );
  process.exit(1);
}

const inflightAt = (calls, at) => calls.filter((c) => c.started <= at && c.ended >= at).length;
const ms = (v) => (Number.isFinite(v) ? `${Math.round(v)} ms` : 'never');
const line = (label, value) => process.stdout.write(`  ${label.padEnd(44)} ${value}\n`);

function latencies(calls) {
  const d = calls.filter((c) => c.ok).map((c) => c.ended - c.started);
  return { p50: percentile(d, 50), p99: percentile(d, 99) };
}

async function scenario(name, title, options, body) {
  if (only && !only.has(name)) return;
  process.stdout.write(`\n${title}\n`);
  const cluster = new Cluster(options);
  try {
    await cluster.start();
    line('processes and logs in', cluster.dir);
    results[name] = await body(cluster);
  } catch (error) {
    process.stdout.write(`  FAILED: ${error.stack}\n`);
    results[name] = { error: String(error) };
    process.exitCode = 1;
  } finally {
    await cluster.stop();
  }
}

async function run(cluster, { seconds = SECONDS, at, action, portFor } = {}) {
  const driver = new Driver(cluster.lbPort, { sessions: SESSIONS, everyMs: 100, portFor });
  await driver.open();
  driver.start();
  let actedAt;
  if (action) {
    await sleep(at * 1000);
    actedAt = Date.now();
    await action();
    await sleep(Math.max(3000, seconds * 1000 - (Date.now() - actedAt) - at * 1000));
  } else {
    await sleep(seconds * 1000);
  }
  await driver.stop();
  return { driver, actedAt };
}

function report(cluster, driver, extra = {}) {
  const s = driver.summary();
  const { duplicates: dup, missing } = duplicates(cluster, driver);
  const lat = latencies(driver.calls);
  line(
    'sessions / calls / ok / failed',
    `${driver.sessions.length} / ${s.calls} / ${s.ok} / ${s.failed}`,
  );
  line('failures by kind', JSON.stringify(s.kinds));
  line('lost sessions (had to re-initialize)', `${s.lost}/${driver.sessions.length}`);
  line('duplicate executions / ok calls never run', `${dup.length} / ${missing.length}`);
  line('orphan backend processes', String(cluster.orphans().length));
  line('call latency p50 / p99', `${ms(lat.p50)} / ${ms(lat.p99)}`);
  line('HAProxy statuses', JSON.stringify(cluster.haStatuses()));
  return {
    ...s,
    duplicates: dup.length,
    missing: missing.length,
    orphans: cluster.orphans().length,
    ...lat,
    ...extra,
  };
}

// 1. Steady state, prefix routing: every call goes to its owner.
await scenario(
  'steady',
  `1. steady state, ${SECONDS} s, ${SESSIONS} sessions, prefix routing`,
  {},
  async (cluster) => {
    const { driver } = await run(cluster);
    const forwarded = driver.calls.filter((c) => c.forwarded).length;
    line('forwarded calls', String(forwarded));
    return report(cluster, driver, { forwarded });
  },
);

// 1b. No stickiness at all: calls spread over the replicas by the client; 2/3 are forwarded.
await scenario(
  'roundrobin',
  `1b. steady state, no stickiness (calls round-robin over the replicas)`,
  { haproxy: true },
  async (cluster) => {
    const ports = cluster.names.map((n) => cluster.port(n));
    const { driver } = await run(cluster, {
      portFor: (session, seq) => ports[(session.index + seq) % ports.length],
    });
    const direct = driver.calls.filter((c) => c.ok && !c.forwarded).map((c) => c.ended - c.started);
    const fwd = driver.calls.filter((c) => c.ok && c.forwarded).map((c) => c.ended - c.started);
    const share = fwd.length / Math.max(1, direct.length + fwd.length);
    line('forwarded share of calls', `${(share * 100).toFixed(1)} %`);
    line('direct p50 / p99', `${ms(percentile(direct, 50))} / ${ms(percentile(direct, 99))}`);
    line('forwarded p50 / p99', `${ms(percentile(fwd, 50))} / ${ms(percentile(fwd, 99))}`);
    line(
      'forwarding overhead p50 / p99',
      `${ms(percentile(fwd, 50) - percentile(direct, 50))} / ${ms(percentile(fwd, 99) - percentile(direct, 99))}`,
    );
    return report(cluster, driver, {
      forwardedShare: share,
      overheadP50: percentile(fwd, 50) - percentile(direct, 50),
      overheadP99: percentile(fwd, 99) - percentile(direct, 99),
    });
  },
);

// 2. SIGKILL of r2 under load, failover: reinitialize.
await scenario(
  'kill',
  `2. SIGKILL of r2 at t=${Math.round(SECONDS / 2)} s, failover: reinitialize`,
  {},
  async (cluster) => {
    const { driver, actedAt } = await run(cluster, {
      at: SECONDS / 2,
      action: () => cluster.kill('r2'),
    });
    const rec = recoveries(driver, 'r2', actedAt);
    const inflight = inflightAt(driver.calls, actedAt);
    line('calls in flight at the kill', String(inflight));
    line('sessions on r2 at the kill', String(rec.length));
    line(
      'recovery (kill → first success) p50 / p99 / max',
      `${ms(percentile(rec, 50))} / ${ms(percentile(rec, 99))} / ${ms(Math.max(...rec))}`,
    );
    const epochs = driver.sessions
      .filter((s) => s.sid.startsWith('v1.r2.'))
      .map((s) => cluster.redisCli('HGET', `mcpc:s:{${s.sid}}`, 'epoch'));
    line("epochs of r2's sessions in Redis", JSON.stringify(epochs));
    return report(cluster, driver, {
      inflightAtKill: inflight,
      recoveryP50: percentile(rec, 50),
      recoveryP99: percentile(rec, 99),
      recoveryMax: Math.max(...rec),
      epochs,
    });
  },
);

// 3. SIGKILL with failover: end: today's behaviour, but said at once.
await scenario(
  'end',
  `3. SIGKILL of r2, failover: end`,
  { cluster: { failover: 'end' } },
  async (cluster) => {
    const { driver, actedAt } = await run(cluster, {
      at: SECONDS / 2,
      action: () => cluster.kill('r2'),
    });
    const r2 = driver.sessions.filter((s) => s.reopened);
    const first404 = r2.map(
      (s) => driver.calls.find((c) => c.session === s.index && c.kind === '404')?.ended - actedAt,
    );
    line('sessions that got 404 (and re-initialized)', String(r2.length));
    line('kill → 404, max', ms(Math.max(...first404)));
    return report(cluster, driver, { ended: r2.length, to404Max: Math.max(...first404) });
  },
);

// 4. A resumable stream across replicas: its owner dies mid-stream.
await scenario(
  'stream',
  `4. resumable stream: r2 killed mid-stream, resumed through HAProxy`,
  {},
  async (cluster) => {
    let session;
    do session = await openSession(cluster.lbPort);
    while (session.replica !== 'r2');
    const events = [];
    const { request } = await import('node:http');
    const ended = new Promise((resolve) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: cluster.lbPort,
          method: 'POST',
          path: '/mcp',
          headers: {
            host: '127.0.0.1',
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            'mcp-session-id': session.sid,
          },
        },
        (res) => {
          let buffer = '';
          res.setEncoding('utf8');
          res.on('data', (chunk) => {
            buffer += chunk;
            let end;
            while ((end = buffer.indexOf('\n\n')) !== -1) {
              const block = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              events.push(/^id: ?(.*)$/m.exec(block)?.[1]);
            }
          });
          res.on('end', resolve);
          res.on('error', resolve);
          res.on('aborted', resolve);
        },
      );
      req.on('error', resolve);
      req.end(
        JSON.stringify({
          jsonrpc: '2.0',
          id: 'long',
          method: 'tools/call',
          params: {
            name: 'slow',
            arguments: { steps: 50, ms: 200 },
            _meta: { progressToken: 'p' },
          },
        }),
      );
    });
    await sleep(1500);
    await cluster.kill('r2');
    await ended;
    const live = events.filter(Boolean);
    const resumed = await http(cluster.lbPort, {
      method: 'GET',
      path: '/mcp',
      headers: {
        accept: 'text/event-stream',
        'mcp-session-id': session.sid,
        'last-event-id': live.at(-1),
      },
    });
    const replayed = messagesOf(resumed);
    const ids = [...live, ...replayed.map((e) => e.id)].map((id) => Number(id.split('_')[1]));
    const gaps = ids.filter((seq, i) => i > 0 && seq !== ids[i - 1] + 1).length;
    const final = replayed.at(-1)?.message;
    line(
      'events seen live / on the resume',
      `${live.length} / ${replayed.length} (served by ${resumed.headers['mcp-bridge-replica']})`,
    );
    line('gaps in the event ids', String(gaps));
    line(
      'the call ended with',
      final?.error
        ? `${final.error.data?.code} (retryable: ${final.error.data?.retryable})`
        : JSON.stringify(final),
    );
    return { live: live.length, replayed: replayed.length, gaps, final: final?.error?.data?.code };
  },
);

// 5. SIGTERM drain of r2.
await scenario(
  'drain',
  `5. SIGTERM of r2 at t=${Math.round(SECONDS / 2)} s (drain and hand over)`,
  {},
  async (cluster) => {
    const { driver } = await run(cluster, { at: SECONDS / 2, action: () => cluster.term('r2') });
    return report(cluster, driver);
  },
);

// 6. Redis killed for 10 s, then back (empty: it keeps nothing), then a SIGKILL.
await scenario(
  'redis',
  `6. Redis killed for 10 s at t=3 s, then SIGKILL of r2`,
  {},
  async (cluster) => {
    const driver = new Driver(cluster.lbPort, { sessions: SESSIONS, everyMs: 100 });
    await driver.open();
    driver.start();
    await sleep(3000);
    const down = Date.now();
    await cluster.killRedis();
    // A non-owner asked meanwhile answers 503 + Retry-After, not 404.
    const s = driver.sessions[0];
    const other = cluster.names.find((n) => n !== s.replica);
    await sleep(1000);
    const away = await http(cluster.port(other), {
      method: 'POST',
      path: '/mcp',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': s.sid,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 'x', method: 'tools/list' }),
    });
    await sleep(9000);
    await cluster.startRedis();
    const up = Date.now();
    const during = driver.calls.filter((c) => c.started >= down && c.started < up);
    await sleep(4000);
    const killedAt = Date.now();
    await cluster.kill('r2');
    await sleep(5000);
    await driver.stop();
    const after = driver.calls.filter((c) => c.started >= killedAt);
    const rec = recoveries(driver, 'r2', killedAt);
    line(
      'calls while Redis was down / failed',
      `${during.length} / ${during.filter((c) => !c.ok).length}`,
    );
    line(
      'non-owner while Redis down',
      `${away.status}, Retry-After: ${away.headers['retry-after']}`,
    );
    line(
      'after the later SIGKILL: calls / failed',
      `${after.length} / ${after.filter((c) => !c.ok).length} (in flight at the kill: ${inflightAt(driver.calls, killedAt)})`,
    );
    line('recovery after it p99', ms(percentile(rec, 99)));
    return report(cluster, driver, {
      duringDown: during.length,
      failedDuringDown: during.filter((c) => !c.ok).length,
      nonOwnerStatus: away.status,
      retryAfter: away.headers['retry-after'],
      recoveryP99AfterKill: percentile(rec, 99),
    });
  },
);

// 7. SIGSTOP of r2 for 5 s (> the 1.5 s TTL of these runs), then SIGCONT: adopted, then fenced.
await scenario('pause', `7. SIGSTOP of r2 for 5 s, then SIGCONT`, {}, async (cluster) => {
  const { driver, actedAt } = await run(cluster, {
    at: SECONDS / 2,
    action: async () => {
      cluster.signal('r2', 'SIGSTOP');
      await sleep(5000);
      cluster.signal('r2', 'SIGCONT');
    },
  });
  let twice = 0;
  for (const s of driver.sessions.filter((x) => x.sid.startsWith('v1.r2.'))) {
    const calls = driver.calls.filter((c) => c.session === s.index && c.ok);
    const moved = calls.find((c) => c.started > actedAt && c.replica !== 'r2');
    if (moved && calls.some((c) => c.started > moved.ended && c.replica === 'r2')) twice++;
  }
  const fenced = cluster
    .logOf('r2')
    .split('\n')
    .filter((l) => l.includes('fenced:')).length;
  line('r2 sessions fenced on SIGCONT', String(fenced));
  line('sessions served by two replicas after the move', String(twice));
  line('calls in flight at the pause', String(inflightAt(driver.calls, actedAt)));
  return report(cluster, driver, { fenced, servedByTwo: twice });
});

process.stdout.write(`\n${JSON.stringify(results)}\n`);
