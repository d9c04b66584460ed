import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { groupUsage, parseRss, parseStat } from './process-usage.js';

const onLinux = existsSync('/proc/self/stat');

describe('parseStat', () => {
  it('reads the group and CPU ticks after the last parenthesis of the command name', () => {
    // Fields 3–15 of proc(5) after a name holding a space and a parenthesis.
    const line = '4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0';
    expect(parseStat(line)).toEqual({ pgrp: 4242, cpuTicks: 300 });
  });

  it('counts a zombie as gone, and refuses a line it cannot read', () => {
    expect(parseStat('7 (x) Z 1 7 7 0 -1 0 0 0 0 0 5 5 0 0')).toBeUndefined();
    expect(parseStat('no parenthesis here')).toBeUndefined();
    expect(parseStat('7 (x) S 1 seven 7')).toBeUndefined();
  });
});

describe('parseRss', () => {
  it('reads VmRSS in bytes, and 0 when there is none (a kernel thread)', () => {
    expect(parseRss('Name:\tnode\nVmRSS:\t   51200 kB\nThreads:\t7\n')).toBe(51200 * 1024);
    expect(parseRss('Name:\tkthreadd\nThreads:\t1\n')).toBe(0);
  });
});

describe.runIf(onLinux)('groupUsage on this machine', () => {
  const children: Array<ReturnType<typeof spawn>> = [];
  afterEach(() => {
    for (const child of children.splice(0)) if (child.pid) process.kill(-child.pid, 'SIGKILL');
  });

  it('sums a process group: the process and the child it started, memory and CPU', async () => {
    // A wrapper (as npx is) that starts a child in its group; the child spends 300 ms of CPU.
    const busy =
      'while (process.cpuUsage().user < 300000); console.log("done"); setInterval(() => {}, 1000)';
    const script = `require('node:child_process').spawn(process.execPath, ['-e', ${JSON.stringify(busy)}], { stdio: 'inherit' }); setInterval(() => {}, 1000)`;
    const child = spawn(process.execPath, ['-e', script], {
      detached: true,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    await new Promise((resolve) => child.stdout!.once('data', resolve));
    const usage = groupUsage(new Set([child.pid!]));
    const group = usage.get(child.pid!);
    expect(group?.processes).toBe(2);
    expect(group!.rssBytes).toBeGreaterThan(10 * 1024 * 1024);
    expect(group!.cpuSeconds).toBeGreaterThanOrEqual(0.3);
  });

  it('leaves no file descriptor open, however often it reads', () => {
    const fds = () => readdirSync('/proc/self/fd').length;
    const before = fds();
    for (let i = 0; i < 50; i++) groupUsage(new Set([process.pid]));
    expect(fds()).toBe(before);
  });

  it('is empty for no groups, for a group that has ended, and where /proc is missing', () => {
    expect(groupUsage(new Set())).toEqual(new Map());
    expect(groupUsage(new Set([2 ** 22 + 1]))).toEqual(new Map());
    expect(groupUsage(new Set([process.pid]), '/nonexistent-proc')).toEqual(new Map());
  });
});
