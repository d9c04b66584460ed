/*
 * A cluster on one machine, as processes: a Redis of its own (never the shared 6379), N gateway
 * replicas (`node dist/cli.js --config …`, cluster.enabled) and HAProxy in front, plus a driver
 * of raw Streamable HTTP sessions. Used by test/integration/cluster.test.ts (short) and
 * bench/cluster.mjs (`npm run bench:cluster`, the figures of docs/scaling.md).
 */
import { spawn, execFileSync } from 'node:child_process';
import {
  appendFileSync,
  mkdtempSync,
  readFileSync,
  writeFileSync,
  existsSync,
  readdirSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'node:http';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const FIXTURE = join(ROOT, 'test/fixtures/cluster-server.mjs');
export const SECRET = 'cluster-test-secret-0123456789abcdef';

export function hasHaproxy() {
  try {
    execFileSync('haproxy', ['-v'], { stdio: 'ignore' });
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Waits until `check` resolves truthy, polling every `every` ms, up to `ms`. */
export async function until(check, ms = 10_000, every = 50, what = 'condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(every);
  }
}

const agent = new Agent({ keepAlive: true, maxSockets: 512 });

/** One HTTP request; resolves with { status, headers, body } (the body as text). */
export function http(port, options = {}) {
  return http1(port, options);
}

function http1(port, { method = 'GET', path = '/', headers = {}, body, timeoutMs = 30_000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: { host: '127.0.0.1', ...headers },
        agent,
        timeout: timeoutMs,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
        res.on('aborted', () => reject(new Error('response aborted')));
      },
    );
    const timer = setTimeout(() => req.destroy(new Error('timeout')), timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('error', reject);
    req.end(body);
  });
}

export function freePortBase() {
  // Ports above the usual ranges, spread by process id so that two runs do not meet.
  return 20_000 + ((process.pid * 37) % 2000) * 10;
}

export class Cluster {
  constructor({
    replicas = 3,
    base = freePortBase(),
    backendConfig = {},
    cluster = {},
    haproxy = true,
    log = 'warn',
  } = {}) {
    this.dir = mkdtempSync(join(tmpdir(), 'mcp-cluster-'));
    this.base = base;
    this.names = Array.from({ length: replicas }, (_, i) => `r${i + 1}`);
    this.procs = new Map();
    this.everStarted = [];
    this.redisPort = base;
    this.lbPort = base + 9;
    this.execLog = join(this.dir, 'exec.log');
    writeFileSync(this.execLog, '');
    this.backendConfig = backendConfig;
    this.clusterConfig = cluster;
    this.useHaproxy = haproxy;
    this.logLevel = log;
  }

  port(name) {
    return this.base + Number(name.slice(1));
  }
  clusterPort(name) {
    return this.base + 100 + Number(name.slice(1));
  }

  async start() {
    await this.startRedis();
    await Promise.all(this.names.map((name) => this.startReplica(name)));
    if (this.useHaproxy) await this.startHaproxy();
    return this;
  }

  async startRedis() {
    const proc = spawn(
      'redis-server',
      [
        '--port',
        String(this.redisPort),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        this.dir,
      ],
      { stdio: 'ignore' },
    );
    this.redis = proc;
    await until(() => this.redisPing(), 5000, 50, 'redis');
  }

  redisPing() {
    try {
      return (
        execFileSync('redis-cli', ['-p', String(this.redisPort), 'ping'], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        }).trim() === 'PONG'
      );
    } catch {
      return false;
    }
  }

  redisCli(...args) {
    return execFileSync('redis-cli', ['-p', String(this.redisPort), ...args], {
      encoding: 'utf8',
    }).trim();
  }

  async killRedis() {
    this.redis.kill('SIGKILL');
    await new Promise((resolve) =>
      this.redis.exitCode !== null ? resolve() : this.redis.once('exit', resolve),
    );
  }

  configOf(name) {
    return {
      server: {
        host: '127.0.0.1',
        port: this.port(name),
        shutdownTimeoutMs: 5000,
        maxConnectionsPerAddress: 0,
      },
      sessions: { maxPerClient: 0 },
      admin: { enabled: false },
      log: { level: this.logLevel },
      redis: { url: `redis://127.0.0.1:${this.redisPort}`, keyPrefix: 'mcpc:' },
      cluster: {
        enabled: true,
        replicaId: name,
        secret: SECRET,
        port: this.clusterPort(name),
        heartbeatMs: 500,
        ttlMs: 1500,
        drainDelayMs: 1200,
        ...this.clusterConfig,
      },
      backends: {
        fixture: {
          command: process.execPath,
          args: [FIXTURE, this.execLog],
          ...this.backendConfig,
        },
      },
    };
  }

  async startReplica(name) {
    const running = this.procs.get(name);
    if (running && running.exitCode === null && !running.signalCode) return running;
    const file = join(this.dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(this.configOf(name)));
    const out = join(this.dir, `${name}.log`);
    const proc = spawn(process.execPath, [join(ROOT, 'dist/cli.js'), '--config', file], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, BRIDGE_LOG_LEVEL: this.logLevel },
    });
    proc.stderr.on('data', (chunk) => appendFileSync(out, chunk));
    this.procs.set(name, proc);
    this.everStarted.push(proc);
    await until(
      async () => (await http(this.port(name), { path: '/ready' })).status === 200,
      15_000,
      50,
      `${name} ready`,
    );
    return proc;
  }

  logOf(name) {
    const file = join(this.dir, `${name}.log`);
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  }

  async startHaproxy() {
    const error = (status, text) =>
      `HTTP/1.0 ${status} ${text}\r\nContent-Type: application/json\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n` +
      JSON.stringify({
        jsonrpc: '2.0',
        id: null,
        error: {
          code: -32603,
          message: `load balancer: ${text}`,
          data: { code: 'LB_UPSTREAM_FAILED', retryable: true },
        },
      }) +
      '\n';
    for (const [status, text] of [
      [502, 'Bad Gateway'],
      [503, 'Service Unavailable'],
      [504, 'Gateway Timeout'],
    ])
      writeFileSync(join(this.dir, `${status}.http`), error(status, text));
    const cfg = haproxyConfig({
      bind: `127.0.0.1:${this.lbPort}`,
      servers: this.names.map((name) => ({ name, addr: `127.0.0.1:${this.port(name)}` })),
      errorDir: this.dir,
      stats: `127.0.0.1:${this.lbPort - 1}`,
    });
    const file = join(this.dir, 'haproxy.cfg');
    writeFileSync(file, cfg);
    execFileSync('haproxy', ['-c', '-q', '-f', file]);
    const logFile = join(this.dir, 'ha.log');
    this.haLog = logFile;
    this.haproxy = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = [];
    const keep = (chunk) => {
      lines.push(chunk.toString());
      if (lines.length % 50 === 0) writeFileSync(logFile, lines.join(''));
    };
    this.haproxy.stdout.on('data', keep);
    this.haproxy.stderr.on('data', keep);
    this.haLines = lines;
    await until(
      async () => (await http(this.lbPort, { path: '/ready' })).status === 200,
      10_000,
      50,
      'haproxy',
    );
    // Every replica up in HAProxy's eyes before traffic starts.
    await sleep(1200);
  }

  haStatuses() {
    const counts = {};
    for (const line of this.haLines.join('').split('\n')) {
      const m = / (\d{3}) \d+ - - /.exec(line) ?? /" (\d{3}) /.exec(line);
      const status = /\s(\d{3})\s+\d+\s+-\s+-\s+/.exec(line)?.[1];
      const s = status ?? m?.[1];
      if (s) counts[s] = (counts[s] ?? 0) + 1;
    }
    return counts;
  }

  signal(name, sig) {
    this.procs.get(name)?.kill(sig);
  }

  async kill(name) {
    const proc = this.procs.get(name);
    proc.kill('SIGKILL');
    await new Promise((resolve) =>
      proc.exitCode !== null || proc.signalCode ? resolve() : proc.once('exit', resolve),
    );
  }

  async term(name) {
    const proc = this.procs.get(name);
    proc.kill('SIGTERM');
    await new Promise((resolve) =>
      proc.exitCode !== null || proc.signalCode ? resolve() : proc.once('exit', resolve),
    );
  }

  /** Fixture processes of this cluster still running (their command line names our log). */
  fixtures() {
    const found = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
        if (cmd.includes(FIXTURE) && cmd.includes(this.execLog)) {
          const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
          const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
          found.push({ pid: Number(entry), ppid });
        }
      } catch {
        // gone
      }
    }
    return found;
  }

  /** Fixture processes whose gateway is not one of our running replicas. */
  orphans() {
    const live = new Set(
      [...this.procs.values()]
        .filter((p) => p.exitCode === null && !p.signalCode)
        .map((p) => p.pid),
    );
    return this.fixtures().filter((f) => !live.has(f.ppid));
  }

  executions() {
    const lines = readFileSync(this.execLog, 'utf8').split('\n');
    const byTag = new Map();
    for (const line of lines) {
      const [kind, pid, tag, counter] = line.split(' ');
      if (kind !== 'exec') continue;
      byTag.set(tag, [...(byTag.get(tag) ?? []), { pid: Number(pid), counter: Number(counter) }]);
    }
    return byTag;
  }

  execLogLines() {
    return readFileSync(this.execLog, 'utf8').split('\n').filter(Boolean);
  }

  async stop() {
    const procs = this.everStarted.filter((p) => p.exitCode === null && !p.signalCode);
    for (const p of procs) {
      p.kill('SIGCONT');
      p.kill('SIGKILL');
    }
    await Promise.all(
      procs.map(
        (p) =>
          new Promise((resolve) =>
            p.exitCode !== null || p.signalCode ? resolve() : p.once('exit', resolve),
          ),
      ),
    );
    this.haproxy?.kill('SIGKILL');
    this.redis?.kill('SIGKILL');
    if (this.haLines) writeFileSync(this.haLog, this.haLines.join(''));
    // The replicas' children see their stdin close and exit.
    await until(() => this.fixtures().length === 0, 5000, 50, 'fixtures to exit').catch(() => {
      for (const f of this.fixtures()) process.kill(f.pid, 'SIGKILL');
    });
  }
}

export function haproxyConfig({ bind, servers, errorDir, stats }) {
  const rules = servers
    .map((s) => `  use-server ${s.name} if { req.hdr(mcp-session-id) -m beg v1.${s.name}. }`)
    .join('\n');
  const lines = servers
    .map((s) => `  server ${s.name} ${s.addr} check inter 500 fall 2 rise 2`)
    .join('\n');
  return `global
  maxconn 4096
  log stderr format raw local0

defaults
  mode http
  log global
  option httplog
  timeout connect 250ms
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 10s
  # One server connection per request: a replica that dies under a request then yields a 502
  # (with the JSON-RPC body of errorfile) instead of a silently closed client connection, which
  # would invite the client to send a call that may have run once more.
  option http-server-close
  retries 2
  option redispatch
  retry-on conn-failure
  errorfile 502 ${errorDir}/502.http
  errorfile 503 ${errorDir}/503.http
  errorfile 504 ${errorDir}/504.http

frontend mcp
  bind ${bind}
  default_backend replicas

backend replicas
  balance roundrobin
  option httpchk
  http-check send meth GET uri /ready ver HTTP/1.1 hdr Host 127.0.0.1
  http-check expect status 200
${rules}
${lines}
${stats ? `\nlisten stats\n  bind ${stats}\n  stats enable\n  stats uri /\n` : ''}`;
}

// ── the driver: raw Streamable HTTP sessions ──────────────────────────────────────────────

const HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
};

/** The JSON-RPC messages in a response body: plain JSON, or the data of SSE events. */
export function messagesOf(res) {
  const type = String(res.headers['content-type'] ?? '');
  if (type.startsWith('text/event-stream')) {
    const out = [];
    for (const block of res.body.split('\n\n')) {
      const id = /^id: ?(.*)$/m.exec(block)?.[1];
      const data = block
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).trimStart())
        .join('\n');
      if (data) out.push({ id, message: JSON.parse(data) });
    }
    return out;
  }
  if (!res.body) return [];
  try {
    return [{ message: JSON.parse(res.body) }];
  } catch {
    return [];
  }
}

export async function openSession(port) {
  const res = await http(port, {
    method: 'POST',
    path: '/mcp',
    headers: HEADERS,
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: {
        protocolVersion: '2025-06-18',
        capabilities: {},
        clientInfo: { name: 'driver', version: '1' },
      },
    }),
  });
  const sid = res.headers['mcp-session-id'];
  if (res.status !== 200 || !sid) throw new Error(`initialize: ${res.status} ${res.body}`);
  await http(port, {
    method: 'POST',
    path: '/mcp',
    headers: { ...HEADERS, 'mcp-session-id': sid },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  return { sid, replica: res.headers['mcp-bridge-replica'] };
}

/** One JSON-RPC request on a session; resolves with { status, headers, messages, replica }. */
export async function rpc(port, sid, id, method, params, extraHeaders = {}, timeoutMs = 30_000) {
  const res = await http(port, {
    timeoutMs,
    method: 'POST',
    path: '/mcp',
    headers: {
      ...HEADERS,
      'mcp-session-id': sid,
      'mcp-protocol-version': '2025-06-18',
      ...extraHeaders,
    },
    body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
  });
  return { ...res, messages: messagesOf(res), replica: res.headers['mcp-bridge-replica'] };
}

/**
 * N sessions, each calling `incr` (a unique tag per call) every `everyMs`, until `stop()`.
 * Every call's outcome is kept with its start and end times and the replica that served it.
 */
export class Driver {
  constructor(port, { sessions = 30, everyMs = 100, portFor, timeoutMs = 3000 } = {}) {
    /** A client gives up on a call after this long (it counts as failed, as in flight). */
    this.timeoutMs = timeoutMs;
    this.port = port;
    /** Where each call goes: the load balancer by default; a function (session, seq) → port. */
    this.portFor = portFor ?? (() => port);
    this.count = sessions;
    this.everyMs = everyMs;
    this.calls = [];
    this.sessions = [];
    this.running = false;
    this.inflight = new Set();
  }

  async open() {
    for (let i = 0; i < this.count; i++)
      this.sessions.push({ index: i, ...(await openSession(this.port)), seq: 0, lost: false });
  }

  start() {
    this.running = true;
    this.loops = this.sessions.map((s, i) => this.loop(s, i));
  }

  async loop(session, i) {
    await sleep((i * this.everyMs) / this.count);
    while (this.running) {
      const started = Date.now();
      const tag = `s${session.index}-${++session.seq}`;
      const call = {
        session: session.index,
        tag,
        started,
        ended: 0,
        ok: false,
        kind: '',
        replica: '',
        owner: session.replica,
      };
      this.inflight.add(call);
      try {
        const res = await rpc(
          this.portFor(session, session.seq),
          session.sid,
          session.seq,
          'tools/call',
          { name: 'incr', arguments: { tag } },
          {},
          this.timeoutMs,
        );
        call.forwarded = res.headers['mcp-bridge-forwarded-by'] !== undefined;
        call.status = res.status;
        call.replica = res.replica ?? '';
        const reply = res.messages.find(
          (m) => m.message.id === session.seq || m.message.id === null,
        )?.message;
        if (res.status === 200 && reply?.result) {
          call.ok = true;
          call.counter = Number(reply.result.content?.[0]?.text);
          session.replica = res.replica;
        } else if (res.status === 404) {
          call.kind = '404';
          session.lost = true;
        } else if (reply?.error) {
          call.kind = `rpc:${reply.error.data?.code ?? reply.error.code}`;
        } else {
          call.kind = `http:${res.status}`;
        }
      } catch (error) {
        call.kind = `conn:${error.message}`;
      }
      call.ended = Date.now();
      this.inflight.delete(call);
      this.calls.push(call);
      if (session.lost) {
        // A lost session starts over, as a client must.
        try {
          Object.assign(session, await openSession(this.port), {
            lost: false,
            reopened: (session.reopened ?? 0) + 1,
          });
        } catch {
          // try again next round
        }
      }
      const wait = this.everyMs - (Date.now() - started);
      if (wait > 0) await sleep(wait);
    }
  }

  async stop() {
    this.running = false;
    await Promise.all(this.loops ?? []);
  }

  /** Calls in flight now, with the replica their session was last served by. */
  snapshotInflight() {
    return [...this.inflight].map((c) => ({ ...c }));
  }

  summary() {
    const ok = this.calls.filter((c) => c.ok).length;
    const failed = this.calls.filter((c) => !c.ok);
    const kinds = {};
    for (const c of failed) kinds[c.kind] = (kinds[c.kind] ?? 0) + 1;
    const lost = this.sessions.filter((s) => (s.reopened ?? 0) > 0).length;
    return { calls: this.calls.length, ok, failed: failed.length, kinds, lost };
  }
}

export function percentile(values, p) {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Recovery per session that was on `replica` at `at`: time from `at` to its first success after. */
export function recoveries(driver, replica, at) {
  const out = [];
  for (const s of driver.sessions) {
    const before = driver.calls.filter((c) => c.session === s.index && c.ended <= at && c.ok).pop();
    if (before?.replica !== replica) continue;
    const after = driver.calls.find(
      (c) => c.session === s.index && c.started >= at - 200 && c.ok && c.ended > at,
    );
    out.push(after ? after.ended - at : Infinity);
  }
  return out;
}

/** Tags executed more than once, and successful calls whose tag never executed. */
export function duplicates(cluster, driver) {
  const byTag = cluster.executions();
  const dup = [...byTag.entries()].filter(([, runs]) => runs.length > 1).map(([tag]) => tag);
  const missing = driver.calls.filter((c) => c.ok && !byTag.has(c.tag)).map((c) => c.tag);
  return { duplicates: dup, missing };
}
