import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { it } from 'vitest';
import { FIXTURES, waitFor } from '../helpers.js';

/*
 * The built gateway (`node dist/cli.js --config <file>`) as a child process, for the fault and
 * auth-matrix tests: black-box, real sockets on port 0, the port read from the "gateway
 * listening" log line. Also the known-defect list that the fuzz harness shares
 * (fuzz/known-defects.json): a test of a behaviour on that list is an expected failure until the
 * entry is deleted.
 */

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
export const FUZZ_ECHO = join(FIXTURES, 'fuzz-echo-server.mjs');

interface KnownDefect {
  id: string;
  issue: string;
  title: string;
}

const KNOWN: KnownDefect[] = (
  JSON.parse(readFileSync(new URL('../../fuzz/known-defects.json', import.meta.url), 'utf8')) as {
    defects: KnownDefect[];
  }
).defects;

/** Whether `id` is on the known-defect list (fuzz/known-defects.json). */
export function isKnownDefect(id: string): boolean {
  return KNOWN.some((d) => d.id === id);
}

/**
 * `it` for a behaviour that must hold, or `it.fails` while known defect `id` is on the list: the
 * test then passes only as long as the defect is still there, and turns red (to be moved back to
 * `it`) once the fix lands and the entry is deleted.
 */
export function itUnlessKnown(id: string): typeof it | typeof it.fails {
  return isKnownDefect(id) ? it.fails : it;
}

export interface CliGateway {
  child: ChildProcess;
  pid: number;
  port: number;
  base: string;
  dir: string;
  /** Log lines seen so far (the last 500; a flood is counted, not kept). */
  log: string[];
  logLines(): number;
  close(): Promise<void>;
}

/** Starts `node dist/cli.js --config <dir>/gateway.json` and waits for it to listen. */
export async function startCliGateway(
  config: Record<string, unknown>,
  env: Record<string, string> = {},
): Promise<CliGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-bridge-faults-'));
  const file = join(dir, 'gateway.json');
  // Port 0 always: a fixed port would collide with every other gateway on the machine.
  const server = { host: '127.0.0.1', ...(config.server as object | undefined), port: 0 };
  writeFileSync(file, JSON.stringify({ admin: { enabled: false }, ...config, server }));
  const child = spawn(process.execPath, [CLI, '--config', file], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, BRIDGE_ENABLE_METRICS: 'false', ...env },
  });
  const log: string[] = [];
  let lines = 0;
  let pending = '';
  let port = 0;
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    const parts = (pending + chunk).split('\n');
    pending = parts.pop() ?? '';
    for (const line of parts) {
      lines++;
      if (port === 0 && line.includes('"gateway listening"'))
        port = (JSON.parse(line) as { port: number }).port;
      log.push(line.length > 1000 ? line.slice(0, 1000) : line);
      if (log.length > 500) log.shift();
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`the gateway exited: ${log.join('\n')}`);
        return port !== 0;
      },
      30_000,
      'the gateway to listen',
    );
  } catch (error) {
    await close();
    throw error;
  }
  return {
    child,
    pid: child.pid!,
    port,
    base: `http://127.0.0.1:${port}`,
    dir,
    log,
    logLines: () => lines,
    close,
  };
}

/** A stdio backend running the fuzz echo fixture, in `mode` (see the fixture's header). */
export function echoBackend(mode?: string, extra: Record<string, unknown> = {}) {
  return {
    command: process.execPath,
    args: mode ? [FUZZ_ECHO, ...mode.split(' ')] : [FUZZ_ECHO],
    killGraceMs: 200,
    ...extra,
  };
}

/** Every descendant pid of `pid` (/proc/<pid>/task/<tid>/children, recursively). */
export function descendantsOf(pid: number): number[] {
  const out: number[] = [];
  const walk = (p: number) => {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const t of tasks) {
      let text: string;
      try {
        text = readFileSync(`/proc/${p}/task/${t}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const c of text.trim().split(/\s+/).filter(Boolean)) {
        out.push(Number(c));
        walk(Number(c));
      }
    }
  };
  walk(pid);
  return out;
}

/** Descendants of `pid` whose command line contains `marker`. */
export function backendPids(pid: number, marker = 'fuzz-echo-server'): number[] {
  return descendantsOf(pid).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(marker);
    } catch {
      return false;
    }
  });
}

/** Resident set size of `pid` in bytes, from /proc/<pid>/status. */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

export const MCP_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
};

export const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: {
    protocolVersion: '2025-11-25',
    capabilities: {},
    clientInfo: { name: 'fault-test', version: '1' },
  },
};

export interface RpcReply {
  status: number;
  session: string | null;
  body: {
    id?: unknown;
    result?: { tools?: Array<{ name: string }> } & Record<string, unknown>;
    error?: { code: number; message: string; data?: { code?: string } };
  };
  text: string;
}

/** POSTs one JSON-RPC message and reads the JSON (or single-event SSE) reply. */
export async function rpc(
  url: string,
  message: unknown,
  session?: string,
  headers: Record<string, string> = {},
  signal: AbortSignal = AbortSignal.timeout(60_000),
): Promise<RpcReply> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { ...MCP_HEADERS, ...(session ? { 'mcp-session-id': session } : {}), ...headers },
    body: JSON.stringify(message),
    signal,
  });
  const text = await res.text();
  let body: RpcReply['body'];
  const data = text.startsWith('{') ? text : /^data: (.*)$/m.exec(text)?.[1];
  try {
    body = data ? (JSON.parse(data) as RpcReply['body']) : {};
  } catch {
    body = {};
  }
  return { status: res.status, session: res.headers.get('mcp-session-id'), body, text };
}

/** A normal client's session: initialize, initialized, tools/list; returns the tool names. */
export async function normalSession(url: string): Promise<string[]> {
  const init = await rpc(url, INITIALIZE);
  if (init.status !== 200 || !init.session)
    throw new Error(`initialize: ${init.status} ${init.text}`);
  await rpc(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, init.session);
  const list = await rpc(url, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, init.session);
  await fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': init.session } }).then((r) =>
    r.text(),
  );
  return list.body.result?.tools?.map((t) => t.name) ?? [];
}
