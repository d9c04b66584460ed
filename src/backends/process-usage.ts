import { readFileSync, readdirSync } from 'node:fs';

/**
 * What the backend processes use, read from Linux's /proc when `/stats` asks. Each backend runs
 * in its own process group (its pid is the group's id), so a wrapper such as `npx` counts with
 * the server it starts. Every file is read whole and closed at once: no descriptor is held
 * between reads (a library that kept one per process for a minute leaked them under churn).
 */

/** A process group's use of the machine, summed over its processes. */
export interface GroupUsage {
  /** Processes in the group, the backend process included. */
  processes: number;
  /** Resident memory, in bytes. */
  rssBytes: number;
  /** CPU time, user and system, in seconds since each process started. */
  cpuSeconds: number;
}

/** Clock ticks per second in /proc's CPU times: the kernel's USER_HZ, 100 on Linux. */
const USER_HZ = 100;

/** The fields of `/proc/<pid>/stat` we use; undefined when the process is gone or a zombie. */
export function parseStat(text: string): { pgrp: number; cpuTicks: number } | undefined {
  // The command name, in parentheses, may hold spaces and parentheses: fields follow the last.
  const end = text.lastIndexOf(')');
  if (end < 0) return undefined;
  const fields = text.slice(end + 2).split(' ');
  // fields[0] is field 3 of proc(5): state; pgrp is 5, utime 14, stime 15.
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
  const pgrp = Number(fields[2]);
  const cpuTicks = Number(fields[11]) + Number(fields[12]);
  if (!Number.isInteger(pgrp) || !Number.isFinite(cpuTicks)) return undefined;
  return { pgrp, cpuTicks };
}

/** `VmRSS` of `/proc/<pid>/status`, in bytes (0 for a kernel thread, which has none). */
export function parseRss(status: string): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined; // the process ended between the listing and the read
  }
}

/**
 * The use of each process group in `groups`, by group id; empty where /proc is not there
 * (macOS, Windows). One pass over /proc: its cost grows with the machine's process count, and
 * it runs only when `/stats` is read.
 */
export function groupUsage(groups: ReadonlySet<number>, proc = '/proc'): Map<number, GroupUsage> {
  const usage = new Map<number, GroupUsage>();
  if (groups.size === 0) return usage;
  let entries: string[];
  try {
    entries = readdirSync(proc);
  } catch {
    return usage;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const text = read(`${proc}/${entry}/stat`);
    const stat = text === undefined ? undefined : parseStat(text);
    if (stat === undefined || !groups.has(stat.pgrp)) continue;
    const status = read(`${proc}/${entry}/status`);
    if (status === undefined) continue;
    let group = usage.get(stat.pgrp);
    if (!group) usage.set(stat.pgrp, (group = { processes: 0, rssBytes: 0, cpuSeconds: 0 }));
    group.processes++;
    group.rssBytes += parseRss(status);
    group.cpuSeconds += stat.cpuTicks / USER_HZ;
  }
  for (const group of usage.values()) group.cpuSeconds = Math.round(group.cpuSeconds * 100) / 100;
  return usage;
}
