import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

/*
 * Node cannot ask the kernel to kill a child when its parent dies (prctl PDEATHSIG), and a
 * backend that ignores EOF on stdin would outlive a gateway killed with SIGKILL. So one small
 * watcher process per gateway holds a pipe from us; when that pipe closes, for whatever reason,
 * it terminates every process group we registered with it. Backends run in their own process
 * group (spawned detached), so wrappers such as `npx` and `sh -c` take their children with them.
 */
const WATCHER_SOURCE = `
const groups = new Set();
let buffered = '';
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffered += chunk;
  let i;
  while ((i = buffered.indexOf('\\n')) !== -1) {
    const line = buffered.slice(0, i);
    buffered = buffered.slice(i + 1);
    const pid = Number(line.slice(1));
    if (!Number.isInteger(pid) || pid <= 0) continue;
    if (line[0] === '+') groups.add(pid); else groups.delete(pid);
  }
});
process.stdin.on('close', () => {
  if (groups.size === 0) process.exit(0);
  const signal = (sig) => { for (const pid of groups) { try { process.kill(-pid, sig); } catch {} } };
  signal('SIGTERM');
  setTimeout(() => { signal('SIGKILL'); process.exit(0); }, 2000);
});
`;

let watcher: ChildProcess | undefined;

function ensureWatcher(): ChildProcess | undefined {
  if (watcher && watcher.stdin && !watcher.stdin.destroyed) return watcher;
  try {
    const child = spawn(process.execPath, ['-e', WATCHER_SOURCE], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    child.on('error', () => {
      watcher = undefined;
    });
    child.unref();
    // The pipe must not keep the gateway alive either.
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    child.stdin?.on('error', () => {});
    watcher = child;
    return child;
  } catch {
    return undefined;
  }
}

/** Registers a backend's process group to be killed if the gateway dies without cleaning up. */
export function guardProcessGroup(pid: number): void {
  ensureWatcher()?.stdin?.write(`+${pid}\n`);
}

/** Forgets a process group that has ended normally. */
export function releaseProcessGroup(pid: number): void {
  if (watcher?.stdin && !watcher.stdin.destroyed) watcher.stdin.write(`-${pid}\n`);
}
