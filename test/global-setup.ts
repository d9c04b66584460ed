import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CHROMIUM, CHROMIUM_MISSING } from './browser-helpers.js';

/*
 * After the whole suite: no backend process, fixture or gateway CLI of ours may still run, and no
 * process of ours may still listen on a port. A leak fails the run, naming what leaked.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MARKERS = [
  `${ROOT}test/fixtures/`,
  `${ROOT}dist/cli.js`,
  `${ROOT}node_modules/@modelcontextprotocol/server-`,
];

function ourProcesses(): Array<{ pid: number; cmdline: string }> {
  const found: Array<{ pid: number; cmdline: string }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      if (MARKERS.some((m) => cmdline.includes(m))) found.push({ pid: Number(entry), cmdline });
    } catch {
      // gone while we looked
    }
  }
  return found;
}

/** Socket inodes in LISTEN state (TCP and TCP6). */
function listeningInodes(): Set<string> {
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === '0A' && cols[9]) inodes.add(cols[9]);
    }
  }
  return inodes;
}

function listeningPorts(pid: number, listening: Set<string>): number {
  let count = 0;
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (match && listening.has(match[1]!)) count++;
      } catch {
        // fd closed while we looked
      }
    }
  } catch {
    // process gone
  }
  return count;
}

function leaks(): string[] {
  const problems = ourProcesses().map((p) => `process ${p.pid} still running: ${p.cmdline}`);
  const listening = listeningInodes();
  const own = listeningPorts(process.pid, listening);
  if (own > 0) problems.push(`the test runner still listens on ${own} port(s)`);
  return problems;
}

export default function setup() {
  // Processes that were there before this run (another run, a demo) are not this run's to judge.
  const before = new Set(ourProcesses().map((p) => p.pid));
  return async function teardown() {
    const deadline = Date.now() + 5000;
    const mine = () =>
      leaks().filter(
        (problem) => ![...before].some((pid) => problem.startsWith(`process ${pid} `)),
      );
    let problems = mine();
    while (problems.length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      problems = mine();
    }
    if (problems.length > 0) {
      throw new Error(`the test suite left things behind:\n  ${problems.join('\n  ')}`);
    }
    process.stdout.write('leak check: no child process and no listening port left behind\n');
    // Said last, beside the totals, where a person reads: the browser tests did not run.
    if (!CHROMIUM) process.stdout.write(`browser tests: SKIPPED, ${CHROMIUM_MISSING}\n`);
  };
}
