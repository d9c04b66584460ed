/*
 * Config files and command lines: mutated YAML and JSON configurations through
 * `mcp-bridge check-config <file>`, and mutated argv through `mcp-bridge …`. Each must end within
 * its deadline with status 0 (valid), 1 (a bad configuration) or 2 (misuse), with a message on
 * stderr when it is not 0 and never a stack trace. A command line that starts a gateway (valid by
 * chance) must say "gateway listening"; it is then stopped. One process per input, so this
 * frontend runs `--spawn-inputs` of them.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../lib/prng.mjs';
import { CLI, ECHO, ROOT, track } from '../lib/gateway.mjs';
import { randomValue } from '../lib/generate.mjs';
import { internalsIn } from '../lib/verdict.mjs';

export const ownProcess = true;

const FIXTURES = join(ROOT, 'test/fixtures/configs');
const SEEDS = [
  'good.yaml',
  'two-backends.yaml',
  'two-backends.json',
  'wrong-type.yaml',
  'unknown-key.yaml',
  'bad-url.yaml',
].map((f) => [f, readFileSync(join(FIXTURES, f), 'utf8')]);

const KEYS = [
  'server',
  'port',
  'host',
  'backends',
  'command',
  'args',
  'limits',
  'maxMessageBytes',
  'auth',
  'jwt',
  'secret',
  'apiKeys',
  'processes',
  'max',
  'tls',
  'cert',
  'sessions',
  'idleTimeoutMs',
  'rateLimits',
  'log',
  'level',
  'aggregate',
  'separator',
  'transport',
  'url',
  'processModel',
  'poolSize',
  'authorization',
  'rules',
  'redis',
  'audit',
  '<<',
];
const YAML_NOISE = [
  '\t',
  ': ',
  '- ',
  '&a ',
  '*a ',
  '!!binary ',
  '!!js/function ',
  '? ',
  '|',
  '>',
  '%YAML 1.1\n',
  '---\n',
  '...\n',
  '"',
  "'",
  '{',
  '[',
  '#',
  '${',
  '${HOME',
  '$${',
  '\\u0000',
  '\u0000',
  '\ufeff',
  '0x10',
  '1e999',
  '~',
  'null',
  'yes',
  '<<: *x\n',
];

function mutateText(rng, text) {
  let t = text;
  for (let n = rng.range(1, 4); n > 0; n--) {
    const at = rng.int(t.length + 1);
    switch (rng.int(5)) {
      case 0:
        t = t.slice(0, at) + rng.pick(YAML_NOISE) + t.slice(at);
        break;
      case 1:
        t = t.slice(0, at) + t.slice(at + rng.range(1, 12));
        break;
      case 2:
        t =
          t.slice(0, at) +
          `\n${rng.pick(KEYS)}: ${JSON.stringify(randomValue(rng, 2))}\n` +
          t.slice(at);
        break;
      case 3:
        t = t.slice(0, at);
        break;
      default: {
        const line = t.split('\n');
        const i = rng.int(line.length);
        line.splice(i, 0, line[rng.int(line.length)] ?? '');
        t = line.join('\n');
      }
    }
  }
  return t;
}

/** A structured config with random values in random places (wrong types for every field). */
function structured(rng) {
  const config = { backends: { echo: { command: process.execPath, args: [ECHO] } } };
  for (let n = rng.range(1, 4); n > 0; n--) {
    const section = rng.pick([
      'server',
      'limits',
      'sessions',
      'processes',
      'auth',
      'log',
      'aggregate',
      'rateLimits',
      'backends',
    ]);
    const key = rng.pick(KEYS);
    config[section] = rng.chance(0.2)
      ? randomValue(rng, 2)
      : { ...(config[section] ?? {}), [key]: randomValue(rng, 2) };
  }
  return config;
}

const FLAGS = [
  '--stdio',
  '--url',
  '--transport',
  '--serve',
  '--port',
  '--host',
  '--unix',
  '--log-level',
  '--config',
  '--help',
  '--version',
  '--bogus',
  '-p',
  '--',
  'check-config',
  'schema',
  'token',
  'create',
  '--sub',
  '--ttl',
  '--secret-env',
  '--scopes',
  '--audience',
];
const VALUES = [
  '0',
  '-1',
  '65536',
  'eighty',
  '',
  ' ',
  'stdio',
  'http',
  'ws://127.0.0.1:1/ws',
  'http://',
  'x | y',
  'a && b',
  '$(id)',
  '`id`',
  'node',
  '${HOME}',
  '/nonexistent',
  'debug',
  'loud',
  '7d',
  '1e9',
  '--',
  '"unterminated',
];

export function buildInput(seed, index) {
  const rng = new Rng(`${seed}:config:${index}`);
  const kind = rng.weighted([
    [45, 'yaml'],
    [25, 'structured'],
    [30, 'argv'],
  ]);
  if (kind === 'argv') {
    const argv = [];
    for (let n = rng.range(1, 5); n > 0; n--) {
      argv.push(rng.pick(FLAGS));
      if (rng.chance(0.7)) argv.push(rng.pick(VALUES));
    }
    return { frontend: 'config', kind, argv };
  }
  if (kind === 'structured')
    return {
      frontend: 'config',
      kind,
      name: rng.chance(0.5) ? 'c.json' : 'c.yaml',
      text: JSON.stringify(structured(rng)),
    };
  const [name, text] = rng.pick(SEEDS);
  return {
    frontend: 'config',
    kind,
    name: rng.chance(0.1) ? 'c.conf' : name,
    text: mutateText(rng, text),
  };
}

function runCli(args, cwd, deadlineMs) {
  return new Promise((resolve) => {
    // BRIDGE_PORT=0 and no admin listener: a command line that happens to start a gateway must
    // not take a fixed port from anyone.
    const child = track(
      spawn(process.execPath, [CLI, ...args], {
        cwd,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          PATH: process.env.PATH,
          HOME: cwd,
          BRIDGE_PORT: '0',
          BRIDGE_ENABLE_METRICS: 'false',
        },
      }),
    );
    let stdout = '';
    let stderr = '';
    let started = false;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      if (!started && stderr.includes('"gateway listening"')) {
        started = true;
        child.kill('SIGTERM');
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, started });
    });
  });
}

export function judge(input, r) {
  const v = [];
  const leak =
    internalsIn(r.stderr, (input.text ?? '') + (input.argv ?? []).join(' ')) ??
    internalsIn(r.stdout, input.text ?? '');
  if (leak) v.push({ kind: 'stack-trace', detail: leak });
  if (r.started) return { cls: 'ok', violations: v };
  if (r.signal === 'SIGKILL')
    return {
      cls: 'timeout',
      violations: [...v, { kind: 'hang', detail: 'no exit within the deadline' }],
    };
  if (![0, 1, 2].includes(r.code))
    v.push({
      kind: 'crash',
      detail: `exit status ${r.code ?? r.signal}: ${r.stderr.slice(0, 200)}`,
    });
  if (r.code !== 0 && r.stderr.trim() === '')
    v.push({ kind: 'bad-reply', detail: `exit ${r.code} with nothing on stderr` });
  return { cls: r.code === 0 ? 'ok' : 'rpc-error', violations: v };
}

export async function runBatch({ dir, seed, from, to, tally, inputs }) {
  let next = from;
  const worker = async (w) => {
    for (;;) {
      const index = next++;
      if (index >= to) return;
      const input = inputs ? inputs[index - from] : buildInput(seed, index);
      let args = input.argv;
      if (!args) {
        const file = join(dir, `w${w}-${input.name}`);
        writeFileSync(file, input.text);
        args = ['check-config', file];
      }
      const r = await runCli(args, dir, 15_000);
      const { cls, violations } = judge(input, r);
      tally.record(index, input, cls, violations);
    }
  };
  await Promise.all([worker(0), worker(1)]);
  return {};
}
