#!/usr/bin/env node
/*
 * The fuzz harness of issue 13: drives every frontend of a real gateway (`node dist/cli.js`,
 * built first) with seeded, generated and mutated input, and checks after every batch that the
 * gateway is alive, still serves a normal client, and leaked no process or fd. See
 * docs/reliability.md.
 *
 *   npm run fuzz -- --inputs 1000000 --frontend all --seed 1
 *   npm run fuzz -- --replay fuzz-violations.json
 *
 * Exit status: 0 when nothing but known defects was found, 1 when a violation was, 2 on misuse.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  children,
  cpuSeconds,
  cpuSecondsWithChildren,
  fuzzConfig,
  startGateway,
} from './lib/gateway.mjs';
import { logBound, normalCall, resources, settle } from './lib/checks.mjs';
import { Tally } from './lib/verdict.mjs';
import { knownDefects } from './lib/known.mjs';
import * as http from './frontends/http.mjs';
import * as sse from './frontends/sse.mjs';
import * as ws from './frontends/websocket.mjs';
import * as unix from './frontends/unix.mjs';
import * as stdio from './frontends/stdio.mjs';
import * as tcp from './frontends/tcp.mjs';
import * as config from './frontends/config.mjs';

const FRONTENDS = { http, sse, ws, unix, stdio, tcp, config };

const USAGE = `usage: node fuzz/run.mjs [options]
  --inputs N         inputs per frontend (default 2000)
  --seed S           seed of the generator (default 1)
  --frontend NAME    ${Object.keys(FRONTENDS).join(', ')} or all (default all); a comma list works
  --batch B          inputs per batch; checks run after each (default 10000)
  --concurrency C    HTTP requests at once (default 64; streams use a fraction)
  --window W         inputs in flight per stream connection (default 16; SSE sends one at a time)
  --deadline MS      per-request deadline (default 5000)
  --backend-timeout MS  the gateway's backend timeout: a dropped request's GATEWAY_TIMEOUT (default 1000)
  --spawn-inputs N   inputs for config (one process each; default min(inputs, 300))
  --summary FILE     write the JSON summary there (default test-artifacts/fuzz-summary.json)
  --violations FILE  write violations, replayable, there (default test-artifacts/fuzz-violations.json)
  --replay FILE      send the inputs of a violations file again instead of generating
  --strict           count known defects as violations too
  --quiet            no progress lines`;

function usage(message) {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    options: {
      inputs: { type: 'string', default: '2000' },
      seed: { type: 'string', default: '1' },
      frontend: { type: 'string', default: 'all' },
      batch: { type: 'string', default: '10000' },
      concurrency: { type: 'string', default: '64' },
      window: { type: 'string', default: '16' },
      deadline: { type: 'string', default: '5000' },
      'backend-timeout': { type: 'string', default: '1000' },
      'spawn-inputs': { type: 'string' },
      summary: { type: 'string', default: 'test-artifacts/fuzz-summary.json' },
      violations: { type: 'string', default: 'test-artifacts/fuzz-violations.json' },
      replay: { type: 'string' },
      strict: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  }).values;
} catch (error) {
  usage(error.message);
}
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const int = (name) => {
  const n = Number(args[name]);
  if (!Number.isInteger(n) || n < 0)
    usage(`--${name}: expected a whole number, got "${args[name]}"`);
  return n;
};
const inputsPerFrontend = int('inputs');
const options = {
  maxBytes: 1 << 20,
  backendTimeoutMs: int('backend-timeout'),
  batch: Math.max(1, int('batch')),
  concurrency: Math.max(1, int('concurrency')),
  window: Math.max(1, int('window')),
  deadlineMs: int('deadline'),
  spawnInputs:
    args['spawn-inputs'] !== undefined ? int('spawn-inputs') : Math.min(inputsPerFrontend, 300),
};
const names = args.frontend === 'all' ? Object.keys(FRONTENDS) : args.frontend.split(',');
for (const n of names) if (!FRONTENDS[n]) usage(`--frontend: unknown frontend "${n}"`);
if (args.strict) for (const d of knownDefects) d.kinds = [];

let replay;
if (args.replay) {
  replay = JSON.parse(readFileSync(args.replay, 'utf8')).violations ?? [];
}

const log = (line) => {
  if (!args.quiet) process.stderr.write(`${line}\n`);
};

function writeViolations() {
  mkdirSync(dirname(args.violations), { recursive: true });
  writeFileSync(
    args.violations,
    `${JSON.stringify({ seed: args.seed, violations: tallies.flatMap((t) => t.violations) }, null, 2)}\n`,
  );
}

const dir = mkdtempSync(join(tmpdir(), 'mcp-bridge-fuzz-'));
// Interrupted: end what we started (the gateways end their own backends), then go.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    for (const child of children) child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  });
}
const unixSocket = join(dir, 'gateway.sock');
const gatewayConfig = fuzzConfig({
  unixSocket,
  tcp: true,
  maxBytes: options.maxBytes,
  backendTimeoutMs: options.backendTimeoutMs,
});
let gw;
let idle; // the gateway's processes and fds once warmed up
let restarts = 0;
const tallies = [];
const started = Date.now();

async function startShared() {
  gw = await startGateway({ dir, config: gatewayConfig });
  // Warm up: the shared server-everything process starts with the first aggregated session.
  const problem = await normalCall(gw.base);
  if (problem)
    throw new Error(`the gateway does not serve a normal call before fuzzing: ${problem}`);
  idle = resources(gw.pid);
}

/** Runs one frontend's inputs in batches, with the checks after each. */
async function fuzzFrontend(name) {
  const frontend = FRONTENDS[name];
  const seed = args.seed;
  const tally = new Tally(name, seed);
  tallies.push(tally);
  const own = frontend.ownProcess === true; // stdio and config start their own processes
  // Batch-level violations (a leak, a crash) name a range, not an input: they are not replayed.
  const replayed = replay
    ?.filter((r) => r.frontend === name && typeof r.index === 'number')
    .map((r) => r.input);
  const total = replayed
    ? replayed.length
    : name === 'config'
      ? options.spawnInputs
      : inputsPerFrontend;
  if (total === 0) return tally;
  const t0 = Date.now();
  for (let from = 0; from < total; from += options.batch) {
    const to = Math.min(total, from + options.batch);
    if (!own && !gw.alive()) await startShared();
    // Leaks of known defects pile up over a long run: a fresh gateway keeps the next batch fair.
    if (!own && resources(gw.pid).processes > idle.processes + 40) {
      log(
        `${name}: restarting the gateway: ${resources(gw.pid).processes} backend processes left by known defects`,
      );
      await gw.close();
      await startShared();
      restarts++;
    }
    const baseline = own ? undefined : resources(gw.pid);
    const warningsBefore = own ? 0 : gw.log.warnings;
    const batchStart = Date.now();
    const result =
      (await frontend.runBatch({
        gw,
        dir,
        seed,
        from,
        to,
        tally,
        options,
        inputs: replayed?.slice(from, to),
        gatewayConfig,
      })) ?? {};
    tally.batches++;
    const checksStart = Date.now();
    const batchInput = {
      frontend: name,
      kind: 'batch',
      from,
      to,
      unansweredInitializes: result.unansweredInitializes ?? 0,
      reinitializes: result.reinitializes ?? 0,
    };
    const violations = [...(result.violations ?? [])];
    if (!own) {
      if (!gw.alive()) {
        const { code, signal } = await gw.exited;
        violations.push({
          kind: 'crash',
          detail: `the gateway exited (${code ?? signal}); last log: ${gw.log.recent.slice(-3).join(' | ')}`,
        });
      } else {
        const problem = await normalCall(gw.base);
        if (problem) violations.push({ kind: 'health', detail: problem });
        violations.push(...(await settle(gw.pid, baseline, { processes: result.lingering ?? 0 })));
        const warnings = gw.log.warnings - warningsBefore;
        if (warnings > logBound(to - from))
          violations.push({
            kind: 'log-flood',
            detail: `${warnings} warning lines for ${to - from} inputs`,
          });
      }
    }
    tally.violate(`batch ${from}-${to}`, batchInput, violations);
    // What a long run found so far, readable (and replayable) before it ends.
    if (tally.violationCount > 0) writeViolations();
    tally.elapsedMs = Date.now() - t0;
    const s = tally.summary();
    log(
      `${name}: ${to}/${total} inputs, ${Math.round(((to - from) * 1000) / Math.max(1, checksStart - batchStart))}/s, checks ${((Date.now() - checksStart) / 1000).toFixed(1)} s; ok ${s.replies.ok}, rpc-error ${s.replies['rpc-error']}, 4xx ${s.replies['http-4xx']}, 5xx ${s.replies['http-5xx']}, closed ${s.replies.closed}; crashes ${s.crashes}, hangs ${s.hangs}, slow ${s.slowErrors}, leaks ${s.leaks}, violations ${s.violations}`,
    );
  }
  return tally;
}

let exitCode = 0;
let gatewayCpu;
try {
  if (names.some((n) => !FRONTENDS[n].ownProcess)) await startShared();
  for (const name of names) await fuzzFrontend(name);
} catch (error) {
  process.stderr.write(`fuzz: ${error.stack ?? error}\n`);
  exitCode = 2;
} finally {
  gatewayCpu = gw ? cpuSeconds(gw.pid) : 0;
  await gw?.close();
  rmSync(dir, { recursive: true, force: true });
}

const summaries = tallies.map((t) => t.summary());
const totals = {
  inputs: summaries.reduce((n, s) => n + s.inputs, 0),
  crashes: summaries.reduce((n, s) => n + s.crashes, 0),
  hangs: summaries.reduce((n, s) => n + s.hangs, 0),
  leaks: summaries.reduce((n, s) => n + s.leaks, 0),
  violations: summaries.reduce((n, s) => n + s.violations, 0),
  seconds: Math.round((Date.now() - started) / 100) / 10,
  cpuSecondsHarness: Math.round((process.cpuUsage().user + process.cpuUsage().system) / 1e5) / 10,
  cpuSecondsGateway: gatewayCpu,
  // Everything the run cost: the harness, and every process it started and saw end (gateways,
  // their backends, CLI runs), from /proc/self/stat.
  cpuSecondsAll: cpuSecondsWithChildren(),
  gatewayRestarts: restarts,
};
const knownCounts = {};
for (const s of summaries)
  for (const [id, n] of Object.entries(s.knownDefects))
    knownCounts[id] = (knownCounts[id] ?? 0) + n;
const summary = {
  seed: args.seed,
  inputsPerFrontend,
  options,
  totals,
  frontends: summaries,
  knownDefects: knownDefects.map((d) => ({
    id: d.id,
    issue: d.issue,
    title: d.title,
    inputs: knownCounts[d.id] ?? 0,
  })),
};
mkdirSync(dirname(args.summary), { recursive: true });
mkdirSync(dirname(args.violations), { recursive: true });
writeFileSync(args.summary, `${JSON.stringify(summary, null, 2)}\n`);
writeViolations();

const pad = (v, n) => String(v).padStart(n);
process.stdout.write(
  `\nfrontend  inputs   in/s     ok  rpc-err  4xx   5xx closed crash hang  slow leak viol\n`,
);
for (const s of summaries)
  process.stdout.write(
    `${s.frontend.padEnd(8)}${pad(s.inputs, 8)}${pad(s.inputsPerSecond, 7)}${pad(s.replies.ok, 7)}${pad(s.replies['rpc-error'], 9)}${pad(s.replies['http-4xx'], 5)}${pad(s.replies['http-5xx'], 6)}${pad(s.replies.closed + s.replies.timeout, 7)}${pad(s.crashes, 6)}${pad(s.hangs, 5)}${pad(s.slowErrors, 6)}${pad(s.leaks, 5)}${pad(s.violations, 5)}\n`,
  );
process.stdout.write('\nknown defects (inputs that hit each):\n');
for (const d of summary.knownDefects)
  process.stdout.write(`  ${d.id.padEnd(26)} ${pad(d.inputs, 7)}  (${d.issue}) ${d.title}\n`);
for (const t of tallies)
  for (const v of t.violations.slice(0, 5))
    process.stdout.write(
      `violation ${t.frontend} #${v.index}: ${v.violations.map((x) => `${x.kind}: ${x.detail ?? ''}`).join('; ')}\n`,
    );
process.stdout.write(
  `\n${totals.inputs} inputs in ${totals.seconds} s; summary in ${args.summary}, violations in ${args.violations}\n`,
);
process.exit(exitCode || (totals.violations > 0 ? 1 : 0));
