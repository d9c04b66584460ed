/*
 * The gateway under test, as a user runs it: `node dist/cli.js --config <file>` in a child
 * process, its port read from the "gateway listening" log line. Also what the harness reads from
 * /proc about it: its descendants (backend processes), open fds and RSS.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = join(ROOT, 'dist/cli.js');
export const ECHO = join(ROOT, 'test/fixtures/fuzz-echo-server.mjs');
export const EVERYTHING = join(
  dirname(require.resolve('@modelcontextprotocol/server-everything/package.json')),
  'dist/index.js',
);

/**
 * Every process the harness started and has not seen exit, so that an interrupted run (Ctrl-C,
 * a timeout's SIGTERM) ends them instead of leaving a gateway behind.
 */
export const children = new Set();

export function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** The fuzz configuration: a fast echo backend per session, server-everything shared. */
export function fuzzConfig({
  unixSocket,
  tcp = false,
  maxBytes,
  backendTimeoutMs,
  everything = true,
  extra = {},
}) {
  const backends = {
    echo: {
      command: process.execPath,
      args: [ECHO],
      timeoutMs: backendTimeoutMs,
      killGraceMs: 200,
    },
  };
  if (everything)
    backends.everything = {
      command: process.execPath,
      args: [EVERYTHING, 'stdio'],
      processModel: 'shared',
      // It asks its client nothing with the tools kept below, so calls need not queue.
      serializeCalls: false,
      timeoutMs: backendTimeoutMs,
      killGraceMs: 200,
      // Tools that reach outside (env, files, long sleeps) would measure something else.
      tools: { include: ['echo', 'get-sum', 'get-tiny-image', 'get-annotated-message'] },
    };
  return {
    server: {
      host: '127.0.0.1',
      port: 0,
      ...(unixSocket ? { unixSocket } : {}),
      // The framed TCP frontend on a port of its own (0: any), its frame limit the message limit.
      ...(tcp ? { tcp: { enabled: true, port: 0, maxFrameBytes: maxBytes } } : {}),
      allowedOrigins: ['http://allowed.example'],
    },
    limits: { maxMessageBytes: maxBytes },
    processes: { max: 96 },
    admin: { enabled: false },
    log: { level: 'info' },
    backends,
    ...extra,
  };
}

/** Every descendant pid of `pid`, from /proc/<pid>/task/<tid>/children, recursively. */
export function descendants(pid) {
  const out = [];
  const walk = (p) => {
    let tasks;
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const t of tasks) {
      let text;
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

export function fdCount(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}

/** Resident set size in bytes, from /proc/<pid>/status. */
export function rssBytes(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : -1;
  } catch {
    return -1;
  }
}

/** CPU seconds (user + system) that process `pid` has used, from /proc/<pid>/stat. */
export function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** CPU seconds of this process and of its children that have ended (utime, stime, cutime, cstime). */
export function cpuSecondsWithChildren() {
  try {
    const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
    return Math.round(Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
  } catch {
    return 0;
  }
}

export function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Log lines of a child's stderr, counted by level, with the last few kept for a report. Counting
 * (not storing) keeps a long run's memory flat.
 */
export class LogTap {
  constructor(stream) {
    this.pending = '';
    this.byLevel = { trace: 0, debug: 0, info: 0, warn: 0, error: 0, fatal: 0, other: 0 };
    this.recent = [];
    this.waiters = [];
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      const lines = (this.pending + chunk).split('\n');
      this.pending = lines.pop() ?? '';
      for (const line of lines) this.line(line);
    });
  }

  line(line) {
    if (!line) return;
    const m = /^\{"level":(\d+)/.exec(line);
    const level = m ? Number(m[1]) : 0;
    const name =
      { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' }[level] ??
      'other';
    this.byLevel[name]++;
    if (level >= 40 || !m) {
      this.recent.push(line.length > 2000 ? `${line.slice(0, 2000)}…` : line);
      if (this.recent.length > 20) this.recent.shift();
    }
    for (const w of [...this.waiters]) if (w.test(line)) w.resolve(line);
  }

  /** Warnings and worse so far. */
  get warnings() {
    return this.byLevel.warn + this.byLevel.error + this.byLevel.fatal;
  }

  waitFor(regex, ms) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no log line matching ${regex} within ${ms} ms`));
      }, ms);
      const waiter = {
        test: (line) => regex.test(line),
        resolve: (line) => {
          clearTimeout(timer);
          this.waiters = this.waiters.filter((w) => w !== waiter);
          resolve(line);
        },
      };
      this.waiters.push(waiter);
    });
  }
}

/** Starts `node dist/cli.js --config <dir>/fuzz.json [...args]` and waits for it to listen. */
export async function startGateway({ dir, config, args = [], name = 'fuzz' }) {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  const child = track(
    spawn(process.execPath, [CLI, '--config', file, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, BRIDGE_ENABLE_METRICS: 'false' },
    }),
  );
  const log = new LogTap(child.stderr);
  const exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const listening = log.waitFor(/"msg":"gateway listening"/, 30_000);
  const line = await Promise.race([
    listening,
    exited.then(({ code, signal }) => {
      throw new Error(
        `the gateway exited (${code ?? signal}) before listening: ${log.recent.join('\n')}`,
      );
    }),
  ]);
  const port = JSON.parse(line).port;
  return {
    child,
    pid: child.pid,
    port,
    tcpPort: JSON.parse(line).tcpPort,
    file,
    config,
    unixSocket: config.server?.unixSocket,
    log,
    exited,
    base: `http://127.0.0.1:${port}`,
    alive: () => child.exitCode === null && child.signalCode === null && isAlive(child.pid),
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
