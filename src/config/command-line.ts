import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { parse } from 'shell-quote';

/**
 * Splits a command line given as one string (`--stdio "npx -y some-server --flag"`) into the
 * program and its arguments, with shell quoting rules. Nothing is expanded or run by a shell:
 * `$VAR` stays literal, and operators such as `|` or `&&` are refused.
 */
export function splitCommandLine(line: string): { command: string; args: string[] } {
  const words: string[] = [];
  for (const token of parse(line, (name) => `$${name}`)) {
    if (typeof token !== 'string') {
      const what =
        'op' in token ? `the shell operator "${String(token.op)}"` : 'a comment or pattern';
      throw new Error(
        `the command contains ${what}; give a single program and its arguments (wrap it in "sh -c" if you need a shell)`,
      );
    }
    words.push(token);
  }
  const [command, ...args] = words;
  if (!command) throw new Error('the command is empty');
  return { command, args };
}

/** A command line that cannot be read as given; the message says what is wrong, on one line. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type FlagOptions = NonNullable<ParseArgsConfig['options']>;

/**
 * `parseArgs` (strict, positionals allowed), with messages for people instead of Node's: an
 * unknown flag is named with the closest known one (`--prot` → "did you mean --port?"), and a
 * flag without its value says which value it wants.
 */
export function parseFlags<const T extends FlagOptions>(
  args: string[],
  options: T,
): ReturnType<
  typeof parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: true }>
> {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (error) {
    throw new UsageError(usageMessage(error as Error & { code?: string }, options));
  }
}

function usageMessage(error: Error & { code?: string }, options: FlagOptions): string {
  const unknown = /^Unknown option '([^']+)'/.exec(error.message);
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown) {
    const given = unknown[1]!;
    const closest = closestFlag(given, options);
    return `unknown flag ${given}${closest ? `; did you mean ${closest}?` : ''}`;
  }
  const missing = /^Option '(?:-\w, )?(--[\w-]+) <value>' argument missing/.exec(error.message);
  if (missing) return `${missing[1]}: give a value (${missing[1]} <value>)`;
  const noValue = /^Option '(?:-\w, )?(--[\w-]+)' does not take an argument/.exec(error.message);
  if (noValue) return `${noValue[1]}: takes no value`;
  return error.message;
}

/** The known flag nearest to `given` (edit distance, a shared prefix), if any is near enough. */
export function closestFlag(given: string, options: FlagOptions): string | undefined {
  const name = given.replace(/^-+/, '').split('=')[0]!.toLowerCase();
  if (name.length === 0) return undefined;
  const names = Object.keys(options);
  if (/^-[^-]/.test(given) && name.length === 1) {
    // `-p`: the one long flag that starts with that letter.
    const starting = names.filter((n) => n.startsWith(name));
    return starting.length === 1 ? `--${starting[0]}` : undefined;
  }
  let best: { name: string; distance: number } | undefined;
  for (const candidate of names) {
    const distance =
      candidate.startsWith(name) || name.startsWith(candidate)
        ? Math.abs(candidate.length - name.length) / 2
        : editDistance(name, candidate);
    if (!best || distance < best.distance) best = { name: candidate, distance };
  }
  const nearEnough = best && best.distance <= Math.max(2, Math.floor(name.length / 3));
  return nearEnough ? `--${best!.name}` : undefined;
}

/** Levenshtein distance, with a transposition counted as one edit (`--prot` is one from `--port`). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        value = Math.min(value, d[i - 2]![j - 2]! + 1);
      d[i]![j] = value;
    }
  }
  return d[a.length]![b.length]!;
}

/** The flag that sets `server.maxConnectionsPerAddress` from the command line, quick mode too. */
export const MAX_CONNECTIONS_FLAG = 'max-connections-per-address';

/**
 * `--max-connections-per-address <n>`: TCP connections one client address may hold to the HTTP
 * listener (`server.maxConnectionsPerAddress`); 0 turns the cap off. Returns `flags` with it set,
 * or as they were when the flag is absent; a value that is not a whole number goes to `fail`.
 */
export function withMaxConnectionsPerAddress<T extends { server?: object }>(
  flags: T,
  value: string | undefined,
  fail: (message: string) => never,
): T {
  if (value === undefined) return flags;
  const max = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(max))
    fail(`--${MAX_CONNECTIONS_FLAG}: expected a whole number (0: no cap), got "${value}"`);
  return { ...flags, server: { ...flags.server, maxConnectionsPerAddress: max } };
}
