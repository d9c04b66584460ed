/*
 * Child processes of the benchmark: starting them, measuring them, and ending them with every
 * descendant, whatever happens. Each is started as the leader of its own process group; the
 * targets start their own children in further groups (our gateway's backends and its reaper,
 * supergateway's per-session shells), so ending one means finding its descendants in /proc
 * first and signalling each of their groups too.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Every process started and not yet known to be stopped. */
const live = new Set();

/** The parent of every process, from /proc/<pid>/stat (the field after the command's ")"). */
function parentMap() {
  const parents = new Map();
  for (const name of readdirSync('/proc')) {
    if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    parents.set(Number(name), Number(fields[1]));
  }
  return parents;
}

/** `pid` and all its descendants that are alive now. */
export function processTree(pid) {
  const children = new Map();
  for (const [child, parent] of parentMap()) {
    let list = children.get(parent);
    if (!list) children.set(parent, (list = []));
    list.push(child);
  }
  const tree = [];
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop();
    if (p !== pid && tree.includes(p)) continue;
    tree.push(p);
    for (const c of children.get(p) ?? []) stack.push(c);
  }
  return tree.filter((p) => p === pid || isAlive(p));
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Proportional set size of `pid` and its descendants, in bytes: each page is counted once,
 * shared pages split between the processes that map them, so summing over a tree does not
 * count the node binary 200 times.
 */
export function pssOfTree(pid) {
  let kib = 0;
  const pids = processTree(pid);
  for (const p of pids) {
    try {
      const text = readFileSync(`/proc/${p}/smaps_rollup`, 'utf8');
      const match = /^Pss:\s+(\d+) kB/m.exec(text);
      if (match) kib += Number(match[1]);
    } catch {
      // ended meanwhile
    }
  }
  return { bytes: kib * 1024, processes: pids.length };
}

/** CPU time (user + system) used so far by `pid` and its live descendants, in seconds. */
export function cpuOfTree(pid) {
  let ticks = 0;
  for (const p of processTree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
    } catch {
      // ended meanwhile
    }
  }
  return ticks / 100; // USER_HZ is 100 on Linux
}

/** A port free on 127.0.0.1 now, for peers that cannot be told to pick one. */
export async function freePort() {
  const server = createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Waits until something accepts connections on 127.0.0.1:`port`. */
export async function waitForPort(port, timeoutMs, isDead) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (isDead?.()) throw new Error('the process exited before listening');
    const ok = await new Promise((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listened on port ${port} within ${timeoutMs} ms`);
}

/**
 * Starts a process in a group of its own. `readyPort(line, stream)` is called with each output
 * line until it returns a port; or give `port` to wait for a listener there instead.
 * Resolves with a handle once the process is ready.
 */
export async function startProcess({
  name,
  command,
  args,
  cwd,
  env = process.env,
  readyPort,
  port,
  timeoutMs = 20_000,
}) {
  const child = spawn(command, args, {
    cwd,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const handle = {
    name,
    child,
    pid: child.pid,
    port,
    exited: false,
    /** Last lines of output, for error messages. */
    tail: [],
    stop: () => stopProcess(handle),
  };
  live.add(handle);
  let onPort;
  const gotPort = new Promise((resolve) => (onPort = resolve));
  const watch = (stream) => {
    let buffered = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      buffered += chunk;
      let newline;
      while ((newline = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (handle.tail.push(line.slice(0, 300)) > 20) handle.tail.shift();
        const p = readyPort?.(line);
        if (p !== undefined) onPort(p);
      }
      if (buffered.length > 65536) buffered = '';
    });
  };
  watch(child.stdout);
  watch(child.stderr);
  const exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      handle.exited = true;
      resolve({ code, signal });
    }),
  );
  child.once('error', () => (handle.exited = true));
  try {
    if (readyPort) {
      const timer = sleep(timeoutMs).then(() => 'timeout');
      const result = await Promise.race([gotPort, exited.then(() => 'exited'), timer]);
      if (result === 'timeout' || result === 'exited')
        throw new Error(`${name} ${result === 'exited' ? 'exited' : 'did not start'}`);
      handle.port = result;
    } else {
      await waitForPort(port, timeoutMs, () => handle.exited);
    }
  } catch (error) {
    await stopProcess(handle);
    error.message += `; last output: ${handle.tail.slice(-5).join(' | ')}`;
    throw error;
  }
  handle.exitedPromise = exited;
  return handle;
}

function signalAll(pids, signal) {
  for (const pid of pids) {
    // The group first: a process that leads one (a detached backend) takes its children along.
    try {
      process.kill(-pid, signal);
    } catch {
      // not a group leader, or gone
    }
    try {
      process.kill(pid, signal);
    } catch {
      // gone
    }
  }
}

/**
 * Ends a process and everything under it: SIGTERM and `graceMs` to close in order, then SIGKILL
 * for whatever of the tree (as found before the first signal) is still there.
 */
export async function stopProcess(handle, graceMs = 5000) {
  if (!live.has(handle)) return;
  const tree = handle.exited ? [handle.pid] : processTree(handle.pid);
  if (!handle.exited) {
    try {
      process.kill(handle.pid, 'SIGTERM');
    } catch {
      // gone
    }
    const deadline = Date.now() + graceMs;
    while (!handle.exited && Date.now() < deadline) await sleep(25);
  }
  signalAll(tree, 'SIGKILL');
  const deadline = Date.now() + 5000;
  while (tree.some(isAlive) && Date.now() < deadline) await sleep(25);
  live.delete(handle);
}

/** Registers a process started elsewhere (a direct stdio backend) for the final cleanup. */
export function track(child, name) {
  const handle = { name, child, pid: child.pid, exited: false, tail: [] };
  child.once('exit', () => (handle.exited = true));
  live.add(handle);
  return {
    stop: async () => {
      child.stdin?.end();
      await stopProcess(handle, 1000);
    },
  };
}

/** Kills every process still registered, synchronously: for `exit` and fatal errors. */
export function killEverything() {
  for (const handle of live) {
    try {
      signalAll(processTree(handle.pid), 'SIGKILL');
    } catch {
      signalAll([handle.pid], 'SIGKILL');
    }
  }
  live.clear();
}

export function liveCount() {
  return live.size;
}
