/*
 * `--serve stdio`: a gateway process of its own per batch, one session, newline-delimited
 * JSON-RPC on its stdin and stdout. Besides the replies, every line on stdout must be JSON-RPC
 * (logs belong on stderr), and ending stdin must end the process with status 0 and its backend
 * processes with it.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { CLI, LogTap, descendants, fuzzConfig, isAlive, track } from '../lib/gateway.mjs';
import { buildInput as buildLine, lineOf, payloadOf } from './unix.mjs';
import { Conversation, EDGE_FENCE, lineReader } from '../lib/conversation.mjs';
import { runStreams } from '../lib/streams.mjs';
import { INITIALIZE, logBound } from '../lib/checks.mjs';

export const ownProcess = true;

export const buildInput = (seed, index, options) => {
  const input = buildLine(seed, index, options, 'stdio');
  input.single = false; // one session per process: a cut line would end it
  return input;
};

export async function runBatch({ dir, seed, from, to, tally, options, inputs }) {
  const file = join(dir, 'stdio.json');
  writeFileSync(
    file,
    JSON.stringify(
      fuzzConfig({
        maxBytes: options.maxBytes,
        backendTimeoutMs: options.backendTimeoutMs,
        everything: false,
      }),
    ),
  );
  const child = track(
    spawn(process.execPath, [CLI, '--config', file, '--serve', 'stdio'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, BRIDGE_ENABLE_METRICS: 'false' },
    }),
  );
  const log = new LogTap(child.stderr);
  const exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const violations = [];
  const conversation = new Conversation({
    deadlineMs: options.deadlineMs,
    fence: EDGE_FENCE,
    sparse: true,
    send: (text) => {
      if (child.stdin.destroyed) throw new Error('stdin is closed');
      child.stdin.write(
        typeof text === 'string' ? `${text}\n` : Buffer.concat([text, Buffer.from('\n')]),
      );
    },
  });
  child.stdin.on('error', () => {});
  let notJson = 0;
  child.stdout.setEncoding('utf8');
  child.stdout.on(
    'data',
    lineReader((line) => {
      try {
        conversation.deliver({ raw: line, message: JSON.parse(line) });
      } catch {
        if (notJson++ < 3)
          violations.push({
            kind: 'bad-reply',
            detail: `stdout carried a line that is not JSON: ${line.slice(0, 200)}`,
          });
      }
    }),
  );
  child.once('exit', () => conversation.close('the gateway exited'));
  let backends = [];
  try {
    const { done } = await conversation.exchange(JSON.stringify({ ...INITIALIZE, id: 'init' }));
    await done;
    child.stdin.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n');
    backends = descendants(child.pid);
    const conn = {
      conversation,
      frame: (input) => ({ text: lineOf(input), payload: payloadOf(input) }),
      close: async () => {},
    };
    const result = await runStreams({
      from,
      to,
      tally,
      inputs,
      connections: 1,
      window: options.window,
      build: (i) => buildInput(seed, i, options),
      open: async () => conn,
      single: async () => ({ cls: 'closed', violations: [] }),
    });
    backends = [...new Set([...backends, ...descendants(child.pid)])];
    if (child.exitCode !== null)
      violations.push({
        kind: 'crash',
        detail: `the stdio gateway exited (${child.exitCode}); ${log.recent.slice(-3).join(' | ')}`,
      });
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const { code, signal } = await exited;
    clearTimeout(timer);
    if (code !== 0)
      violations.push({
        kind: signal === 'SIGKILL' ? 'hang' : 'crash',
        detail: `after stdin ended the gateway exited with ${code ?? signal}`,
      });
    const deadline = Date.now() + 5000;
    while (backends.some(isAlive) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    const left = backends.filter(isAlive);
    if (left.length > 0)
      violations.push({
        kind: 'leak-processes',
        excess: left.length,
        detail: `${left.length} backend processes outlived the stdio gateway`,
      });
    if (log.warnings > logBound(to - from))
      violations.push({
        kind: 'log-flood',
        detail: `${log.warnings} warning lines for ${to - from} inputs`,
      });
    return { ...result, violations };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const pid of backends) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
}
