#!/usr/bin/env node
/*
 * The benchmark suite (see docs/benchmarks.md): every scenario against the echo backend
 * directly, through mcp-bridge, and through supergateway and mcp-proxy, in one run, printed as
 * one table with ratios to the direct baseline.
 *
 *   node bench/run.mjs [--only i,ii,v] [--targets direct,bridge] [--quick]
 *                      [--cpu-prof DIR] [--json FILE]
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpSession, WsSession, bytes, echo, httpPool } from './lib/clients.mjs';
import { RestSession } from './lib/rest.mjs';
import { Errors, percentile, runCount, runDuration, withLimit } from './lib/load.mjs';
import { cpuOfTree, killEverything, liveCount, pssOfTree } from './lib/procs.mjs';
import { cell, fixed, verdict } from './lib/report.mjs';
import {
  COLUMNS,
  EXTRA_COLUMNS,
  LABELS,
  ROOT,
  commandLines,
  connectorSession,
  directSession,
  packageVersion,
  startBridge,
  startConnectorGateway,
  startFloor,
  startMcpProxy,
  startSupergateway,
} from './lib/targets.mjs';

const MiB = 1024 * 1024;
/** The whole run stops by itself after this, whatever state it is in. */
const RUN_LIMIT_MS = 30 * 60_000;

const { values: flags } = parseArgs({
  options: {
    only: { type: 'string' },
    targets: { type: 'string' },
    quick: { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (flags.help) {
  process.stdout.write(
    'node bench/run.mjs [--only i,ii,iii,iv,v,v2,vi,i-ws,ii-ws,iii-ws,rest-s,rest-1]\n' +
      '                   [--targets direct,bridge,supergateway,mcp-proxy,floor,connector,connector-ws,connector-tcp]\n' +
      '                   [--quick] [--cpu-prof DIR (profiles mcp-bridge)] [--json FILE]\n',
  );
  process.exit(0);
}
const quick = flags.quick;
const columns = flags.targets ? flags.targets.split(',') : COLUMNS;
for (const c of columns)
  if (!COLUMNS.includes(c) && !EXTRA_COLUMNS.includes(c)) throw new Error(`unknown target ${c}`);

// ── sizes ────────────────────────────────────────────────────────────────────────────────
const SIZE = {
  latencyCalls: quick ? 500 : 2000,
  warmCalls: quick ? 100 : 300,
  windowMs: quick ? 2000 : 5000,
  warmMs: quick ? 300 : 1000,
  bigCalls: quick ? 40 : 200,
  bigBytes: MiB,
  perSessionSessions: quick ? 50 : 200,
  sharedSessions: quick ? 1000 : 10_000,
  idleSockets: quick ? 1000 : 10_000,
  restMs: quick ? 1000 : 2000,
};

// ── safety: every child ends, and so does the run ────────────────────────────────────────
process.on('exit', killEverything);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    process.stderr.write(`\nbench: ${signal}, killing children\n`);
    killEverything();
    process.exit(130);
  });
}
process.on('uncaughtException', (error) => {
  process.stderr.write(`bench: uncaught ${error?.stack ?? error}\n`);
  killEverything();
  process.exit(1);
});
setTimeout(() => {
  process.stderr.write('bench: run time limit reached; stopping\n');
  killEverything();
  process.exit(1);
}, RUN_LIMIT_MS).unref();

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

const log = (text) => process.stderr.write(`${text}\n`);

// ── a target under test, as the scenarios see it ─────────────────────────────────────────

/**
 * Starts `column` for a scenario and hands `fn` a context to open sessions on it; stops
 * everything afterwards. `transport` is how clients reach a gateway (`http` or `ws`);
 * `processModel` is mcp-bridge's (`per-session` or `shared`); `maxConnectionsPerAddress`, when
 * set, is passed to mcp-bridge (`--max-connections-per-address`).
 */
async function onTarget(
  column,
  { transport = 'http', processModel = 'per-session', maxConnectionsPerAddress },
  fn,
) {
  const sessions = [];
  let handle;
  let pool;
  try {
    if (column === 'bridge')
      handle = await startBridge({
        processModel,
        cpuProfDir: flags['cpu-prof'],
        maxConnectionsPerAddress,
      });
    else if (column === 'supergateway') handle = await startSupergateway({ transport });
    else if (column === 'mcp-proxy') handle = await startMcpProxy();
    else if (column === 'floor') handle = await startFloor();
    else if (viaConnector(column))
      handle = await startConnectorGateway({ tcp: column === 'connector-tcp' });
    const ctx = {
      /** Root processes whose trees are measured. */
      roots: () =>
        viaConnector(column)
          ? [handle.pid, ...sessions.map((s) => s.pid)]
          : handle
            ? [handle.pid]
            : sessions.map((s) => s.pid),
      /** Sets how many connections the HTTP sessions opened next share. */
      pool(size) {
        if (handle) pool = httpPool(handle.port, size);
      },
      async open() {
        let session;
        if (column === 'direct') session = directSession();
        else if (viaConnector(column)) session = connectorSession(column, handle.port);
        else if (transport === 'rest' || transport === 'rest-one-shot')
          session = new RestSession({
            port: handle.port,
            pool: (pool ??= httpPool(handle.port, 64)),
            oneShot: transport === 'rest-one-shot',
          });
        else if (transport === 'ws') session = new WsSession({ port: handle.port });
        else
          session = new HttpSession({
            port: handle.port,
            pool: (pool ??= httpPool(handle.port, 64)),
          });
        sessions.push(session);
        return session.open();
      },
      /** Opens a WebSocket connection that sends nothing. */
      async connectIdle() {
        const session = new WsSession({ port: handle.port });
        sessions.push(session);
        return session.connect();
      },
      sessions,
    };
    return await fn(ctx);
  } finally {
    // A session ends with its gateway; only direct ones have their own process to end.
    if (column === 'direct' || viaConnector(column))
      await Promise.allSettled(sessions.map((s) => s.close()));
    if (column !== 'direct') {
      for (const s of sessions) if (s instanceof WsSession) s.socket?.terminate();
      pool?.destroy();
      await handle?.stop();
    }
  }
}

/** A column whose load generator speaks stdio to `mcp-bridge connect` in front of the gateway. */
const viaConnector = (column) => column.startsWith('connector');
/** What the connector columns run: latency (its added cost per call) and throughput. */
const CONNECTOR_SCENARIOS = new Set(['i', 'ii', 'iii', 'iv']);

const sumPss = (roots) => roots.reduce((sum, pid) => sum + pssOfTree(pid).bytes, 0);
const sumCpu = (roots) => roots.reduce((sum, pid) => sum + cpuOfTree(pid), 0);

/** CPU time the whole machine has spent busy, in seconds (from /proc/stat). */
function machineBusy() {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = fields.map(Number);
  return (user + nice + system + irq + softirq + steal) / 100;
}

/**
 * Target and client CPU (cores busy) over a measured window, and what everything else on the
 * machine used meanwhile: on a shared 2-core machine that is what makes two runs differ.
 */
async function measureCpu(ctx, fn) {
  const roots = ctx.roots();
  const targetBefore = sumCpu(roots);
  const clientBefore = process.cpuUsage();
  const machineBefore = machineBusy();
  const t0 = performance.now();
  const result = await fn();
  const seconds = (performance.now() - t0) / 1000;
  const client = process.cpuUsage(clientBefore);
  const target = (sumCpu(roots) - targetBefore) / seconds;
  const clientCores = (client.user + client.system) / 1e6 / seconds;
  const machine = (machineBusy() - machineBefore) / seconds;
  result.cpu = { target, client: clientCores, other: Math.max(0, machine - target - clientCores) };
  return result;
}

const workersOn = (sessions, perSession) =>
  sessions.flatMap((session) => Array.from({ length: perSession }, () => ({ session })));

const echoCall = (session, n) => echo(session, `bench ${n} ${'·'.repeat(n % 8)}`);

// ── scenarios ────────────────────────────────────────────────────────────────────────────

async function latency(ctx) {
  const session = await ctx.open();
  await runCount([{ session }], SIZE.warmCalls, echoCall);
  const r = await measureCpu(ctx, () => runCount([{ session }], SIZE.latencyCalls, echoCall));
  return {
    p50: percentile(r.sorted, 50),
    p99: percentile(r.sorted, 99),
    ok: r.ok,
    errors: r.errors,
    cpu: r.cpu,
  };
}

async function throughput(ctx, sessionCount, perSession, windowMs = SIZE.windowMs) {
  const sessions = [];
  for (let i = 0; i < sessionCount; i++) sessions.push(await ctx.open());
  const workers = workersOn(sessions, perSession);
  await runDuration(workers, SIZE.warmMs, echoCall);
  const r = await measureCpu(ctx, () => runDuration(workers, windowMs, echoCall));
  return { rps: r.rps, ok: r.ok, errors: r.errors, cpu: r.cpu };
}

async function largeResults(ctx) {
  ctx.pool?.(4);
  const session = await ctx.open();
  const workers = workersOn([session], 4);
  const call = (s) => bytes(s, SIZE.bigBytes);
  await runCount(workers, 8, call);
  const r = await measureCpu(ctx, () => runCount(workers, SIZE.bigCalls, call));
  const rps = r.ok / r.elapsed;
  return { rps, mibps: (rps * SIZE.bigBytes) / MiB, ok: r.ok, errors: r.errors, cpu: r.cpu };
}

async function manySessions(ctx, count, { concurrency, call }) {
  ctx.pool?.(concurrency);
  const before = sumPss(ctx.roots());
  const t0 = performance.now();
  const opened = [];
  const errors = new Errors();
  const openErrors = await withLimit(
    Array.from({ length: count }, (_, i) => i),
    concurrency,
    async () => opened.push(await ctx.open()),
  );
  const setup = (performance.now() - t0) / 1000;
  errors.merge(openErrors, 'open ');
  if (call) errors.merge(await withLimit(opened, concurrency, (s) => echoCall(s, 1)), 'call ');
  await sleep(1000); // let the dust settle before reading memory
  const after = sumPss(ctx.roots());
  return {
    setup,
    opened: opened.length,
    pss: after,
    pssBefore: before,
    perSession: (after - before) / Math.max(1, opened.length),
    errors,
  };
}

async function idleSockets(ctx, count) {
  const before = sumPss(ctx.roots());
  const t0 = performance.now();
  const errors = await withLimit(
    Array.from({ length: count }, (_, i) => i),
    200,
    () => ctx.connectIdle(),
  );
  const setup = (performance.now() - t0) / 1000;
  await sleep(1000);
  const open = ctx.sessions.filter((s) => s.socket?.readyState === 1).length;
  const after = sumPss(ctx.roots());
  if (open < count)
    for (let i = 0; i < count - open - errors.count; i++)
      errors.add({ kind: 'closed', message: 'connection closed while idle' });
  return {
    setup,
    open,
    pss: after,
    pssBefore: before,
    perSession: (after - before) / Math.max(1, open),
    errors,
  };
}

const NA = {
  noPerSession:
    'mcp-proxy serves every session from one shared backend process; it has no process-per-session mode',
  noShared:
    'supergateway --stateful starts one backend process per session; it has no shared-process mode',
  noWs: 'mcp-proxy has no WebSocket transport',
  noDirect: 'needs a gateway: there is no connection to hold without one',
  restOnly: 'mcp-bridge’s REST API (docs/rest-api.md); other gateways have none',
  floor: 'the floor relay has one process per session and Streamable HTTP only',
  sgWs: 'supergateway --outputTransport ws: one backend process shared by all connections',
};

/**
 * Each scenario: how to run it on one target, which targets cannot run it (and why), and the
 * figure its ratio is taken on. `same` names a scenario whose direct figure it reuses.
 */
const SCENARIOS = [
  {
    key: 'i',
    title: `(i) 1 session, concurrency 1, ${SIZE.latencyCalls} calls: latency`,
    run: (ctx) => latency(ctx),
  },
  {
    key: 'ii',
    title: `(ii) 1 session, concurrency 32, ${SIZE.windowMs / 1000} s: throughput`,
    run: (ctx) => throughput(ctx, 1, 32),
  },
  {
    key: 'iii',
    title: `(iii) 16 sessions × concurrency 4, ${SIZE.windowMs / 1000} s: throughput`,
    run: (ctx) => throughput(ctx, 16, 4),
  },
  {
    key: 'iv',
    title: `(iv) 1 MiB results, concurrency 4, ${SIZE.bigCalls} calls: throughput`,
    run: (ctx) => largeResults(ctx),
  },
  {
    key: 'v',
    title: `(v) ${SIZE.perSessionSessions} sessions at once, a process each: setup, PSS`,
    na: { 'mcp-proxy': NA.noPerSession },
    run: (ctx) =>
      manySessions(ctx, SIZE.perSessionSessions, {
        concurrency: SIZE.perSessionSessions,
        call: true,
      }),
  },
  {
    key: 'v2',
    title: `(v') ${SIZE.sharedSessions.toLocaleString('en-US')} sessions, one shared process: PSS, errors`,
    spec: { processModel: 'shared' },
    na: {
      direct: 'one process serves one client on stdio',
      supergateway: NA.noShared,
      floor: NA.floor,
    },
    timeoutMs: 300_000,
    run: (ctx) => manySessions(ctx, SIZE.sharedSessions, { concurrency: 100, call: true }),
  },
  {
    key: 'vi',
    title: `(vi) ${SIZE.idleSockets.toLocaleString('en-US')} idle WebSocket connections: PSS (mcp-bridge with --max-connections-per-address 0)`,
    // One load generator, one address, 10,000 connections: more than the per-address cap (256
    // by default, docs/reliability.md) lets one client hold. The scenario measures idle memory,
    // so it turns the cap off, and says so in its title.
    spec: { transport: 'ws', maxConnectionsPerAddress: 0 },
    na: { direct: NA.noDirect, 'mcp-proxy': NA.noWs, floor: NA.floor },
    timeoutMs: 300_000,
    run: (ctx) => idleSockets(ctx, SIZE.idleSockets),
  },
  {
    key: 'i-ws',
    title: '(i-ws) as (i), over WebSocket',
    spec: { transport: 'ws' },
    same: 'i',
    na: { 'mcp-proxy': NA.noWs, floor: NA.floor },
    run: (ctx) => latency(ctx),
  },
  {
    key: 'ii-ws',
    title: '(ii-ws) as (ii), over WebSocket',
    spec: { transport: 'ws' },
    same: 'ii',
    na: { 'mcp-proxy': NA.noWs, floor: NA.floor },
    run: (ctx) => throughput(ctx, 1, 32),
  },
  {
    key: 'iii-ws',
    title: '(iii-ws) as (iii), over WebSocket',
    spec: { transport: 'ws' },
    same: 'iii',
    na: { 'mcp-proxy': NA.noWs, floor: NA.floor },
    run: (ctx) => throughput(ctx, 16, 4),
  },
  // REST (docs/rest-api.md): mcp-bridge only, short windows, the direct figure of (ii).
  {
    key: 'rest-s',
    title: `(rest-s) REST session calls (POST /tools/call), concurrency 32, ${SIZE.restMs / 1000} s`,
    spec: { transport: 'rest' },
    same: 'ii',
    na: { supergateway: NA.restOnly, 'mcp-proxy': NA.restOnly, floor: NA.restOnly },
    run: (ctx) => throughput(ctx, 1, 32, SIZE.restMs),
  },
  {
    key: 'rest-1',
    title: `(rest-1) REST one-shot calls (POST /api/v1/servers/…/tools/…), concurrency 32, ${SIZE.restMs / 1000} s`,
    spec: { transport: 'rest-one-shot' },
    same: 'ii',
    na: { supergateway: NA.restOnly, 'mcp-proxy': NA.restOnly, floor: NA.restOnly },
    run: (ctx) => throughput(ctx, 1, 32, SIZE.restMs),
  },
];

/** The commit measured: BENCH_COMMIT, or the work tree's HEAD (which may have local changes). */
function commit() {
  if (process.env.BENCH_COMMIT) return `commit ${process.env.BENCH_COMMIT.slice(0, 10)}`;
  try {
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
    return `work tree at ${head.trim().slice(0, 10)}`;
  } catch {
    return 'commit unknown';
  }
}

function openFileLimit() {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const [soft, hard] = line?.split(/\s{2,}/).slice(1, 3) ?? ['?', '?'];
  return `${soft} (hard ${hard})`;
}

// ── the run ──────────────────────────────────────────────────────────────────────────────

async function main() {
  const only = flags.only ? new Set(flags.only.split(',')) : undefined;
  const scenarios = SCENARIOS.filter((s) => !only || only.has(s.key));
  const results = {};
  const footnotes = [];
  const note = (text) => {
    let i = footnotes.indexOf(text);
    if (i === -1) i = footnotes.push(text) - 1;
    return String.fromCharCode(97 + i);
  };
  const details = [];

  for (const scenario of scenarios) {
    const row = (results[scenario.key] = {});
    for (const column of columns) {
      const reason =
        scenario.na?.[column] ??
        (viaConnector(column) && !CONNECTOR_SCENARIOS.has(scenario.key)
          ? 'the connector columns run (i) to (iv): one stdio client per connector'
          : undefined);
      if (reason) {
        row[column] = { na: note(reason) };
        continue;
      }
      if (column === 'direct' && scenario.same && results[scenario.same]?.direct) {
        row.direct = results[scenario.same].direct;
        continue;
      }
      // A REST scenario has no direct run of its own: its baseline is (ii)'s, when (ii) ran.
      if (column === 'direct' && scenario.spec?.transport?.startsWith('rest')) {
        row.direct = {
          na: note(`the baseline of REST scenarios is (ii)'s direct run; add ii to --only`),
        };
        continue;
      }
      log(`▶ ${scenario.title} — ${LABELS[column]}`);
      const t0 = performance.now();
      try {
        row[column] = await withTimeout(
          onTarget(column, scenario.spec ?? {}, (ctx) => scenario.run(ctx)),
          scenario.timeoutMs ?? 120_000,
          `${scenario.key} on ${column}`,
        );
        const r = row[column];
        if (r.errors?.count)
          details.push(`${scenario.key} ${LABELS[column]}: ${r.errors.describe()}`);
        if (r.cpu)
          details.push(
            `${scenario.key} ${LABELS[column]}: CPU ${fixed(r.cpu.target, 2)} cores in the target's process tree, ${fixed(r.cpu.client, 2)} in the load generator, ${fixed(r.cpu.other, 2)} in other processes${r.rps ? `; ${fixed((r.cpu.target * 1e6) / r.rps, 0)} µs of target CPU per call` : ''}`,
          );
        log(`  ${cell(scenario.key, r)}  [${fixed((performance.now() - t0) / 1000, 1)} s]`);
      } catch (error) {
        row[column] = { failed: note(`${LABELS[column]}: ${error.message}`) };
        log(`  failed: ${error.message}`);
        killEverything();
      }
      if (liveCount() > 0) killEverything();
      await sleep(300);
    }
  }

  // ── the table ──
  const header = ['scenario', ...columns.map((c) => LABELS[c]), 'target (mcp-bridge)'];
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`];
  for (const scenario of scenarios) {
    const row = results[scenario.key];
    const cells = columns.map((c) =>
      cell(scenario.key, row[c], c === 'direct' ? undefined : row.direct),
    );
    lines.push(`| ${[scenario.title, ...cells, verdict(scenario.key, row)].join(' | ')} |`);
  }
  const cpus = os.cpus();
  const out = [
    `mcp-bridge ${packageVersion('mcp-bridge')} (${commit()}) benchmark, ${new Date().toISOString()}${quick ? ' (--quick)' : ''}`,
    `Node ${process.version}, ${cpus.length} × ${cpus[0]?.model ?? '?'}, ${fixed(os.totalmem() / 1024 / MiB, 0)} GiB; ulimit -n ${openFileLimit()}`,
    `peers: supergateway ${packageVersion('supergateway')}, mcp-proxy ${packageVersion('mcp-proxy')}; ratios in parentheses are to the direct stdio baseline of the same run`,
    '',
    ...lines,
    '',
    ...footnotes.map((text, i) => `[${String.fromCharCode(97 + i)}] ${text}`),
    ...(details.length ? ['', ...details] : []),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
  if (flags.json) {
    const plain = JSON.parse(
      JSON.stringify(results, (k, v) =>
        v instanceof Errors ? { count: v.count, kinds: Object.fromEntries(v.kinds) } : v,
      ),
    );
    writeFileSync(
      flags.json,
      JSON.stringify({ quick, commands: commandLines(), results: plain }, null, 2),
    );
  }
}

try {
  await main();
} finally {
  killEverything();
}
process.exit(0);
