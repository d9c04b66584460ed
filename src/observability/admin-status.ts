import { ConfigError } from '../config/schema.js';
import { loadConfig } from '../config/load.js';
import { parseFlags, UsageError } from '../config/command-line.js';
import { healthyState } from '../http/ops.js';
import type { BackendReport } from '../http/ops.js';

/*
 * `mcp-bridge admin status`: what a running gateway says of itself, read from its admin
 * listener's `/api/overview` (the dashboard's JSON). Seed 003's `mcp-gateway admin status` printed
 * these lines; scripts that read `Status:` or `Endpoints:` keep working. Exit 0 when the gateway
 * answers and every enabled, required backend is healthy; 1 when it does not answer or one is
 * not; 2 when misused.
 */

export interface AdminIo {
  out: (text: string) => void;
  err: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

const defaultIo = (): AdminIo => ({
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  env: process.env,
});

/** What `/api/overview` holds that the status shows. */
interface Overview {
  version: string;
  uptimeSeconds: number;
  backends: BackendReport[];
  sessions: Array<{ transport?: string }>;
}

const USAGE = `Usage: mcp-bridge admin status [--url <admin URL> | --config <file>] [--json]

Asks a running gateway's admin listener (admin.host and admin.port; default
http://127.0.0.1:9090) how it is: version, uptime, sessions, backends and their health.
  --url <URL>      the admin listener, e.g. http://127.0.0.1:9090
  --config <file>  take admin.host and admin.port from this config file
  --json           print the gateway's answer as JSON instead
  --timeout <ms>   how long to wait for the answer (default 5000)
`;

function misuse(io: AdminIo, message: string): number {
  io.err(`mcp-bridge admin: ${message}\n${USAGE}`);
  return 2;
}

/** `1h 2m 3s`, as the seed printed the uptime. */
export function formatUptime(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m ${s % 60}s`;
}

/** The seed's lines, from the gateway's overview. */
export function statusLines(overview: Overview): { text: string; healthy: boolean } {
  const enabled = overview.backends.filter((b) => b.enabled);
  const unhealthy = enabled.filter((b) => !healthyState(b.state));
  const healthy = enabled.every((b) => !b.required || healthyState(b.state));
  const lines = [
    'mcp-bridge status',
    '=================',
    `Version: ${overview.version}`,
    `Status: ${healthy ? 'Running' : 'Degraded'}`,
    `Uptime: ${formatUptime(overview.uptimeSeconds)}`,
    `Connections: ${overview.sessions.length}`,
    `Namespaces: ${enabled.length} (${enabled.map((b) => b.name).join(', ')})`,
    `Endpoints: ${enabled.length - unhealthy.length} healthy, ${unhealthy.length} unhealthy`,
    ...unhealthy.map(
      (b) => `  ${b.name}: ${b.state}${b.lastError === undefined ? '' : ` (${b.lastError})`}`,
    ),
  ];
  return { text: `${lines.join('\n')}\n`, healthy };
}

/** Where the admin listener is: `--url`, else `--config`'s admin section, else the default. */
function adminUrl(values: { url?: string; config?: string }, io: AdminIo): URL {
  if (values.url !== undefined) {
    const url = new URL(values.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError('not http(s)');
    return url;
  }
  if (values.config !== undefined) {
    const { admin } = loadConfig({ file: values.config, env: io.env, warn: () => {} });
    const host = admin.host === '0.0.0.0' || admin.host === '::' ? '127.0.0.1' : admin.host;
    return new URL(`http://${host.includes(':') ? `[${host}]` : host}:${admin.port}`);
  }
  return new URL('http://127.0.0.1:9090');
}

/** `admin status …`; resolves with the exit code. */
export async function adminCommand(args: string[], io: AdminIo = defaultIo()): Promise<number> {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseFlags(args, {
      url: { type: 'string' },
      config: { type: 'string' },
      json: { type: 'boolean' },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    }));
  } catch (error) {
    if (error instanceof UsageError) return misuse(io, error.message);
    throw error;
  }
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  const [command, ...rest] = positionals;
  if (command !== 'status')
    return misuse(
      io,
      command === undefined ? 'give a command: status' : `unknown command "admin ${command}"`,
    );
  if (rest.length > 0) return misuse(io, `status: unexpected argument "${rest[0]}"`);
  if (values.url !== undefined && values.config !== undefined)
    return misuse(io, 'status: give --url or --config, not both');
  const timeoutMs = values.timeout === undefined ? 5000 : Number(values.timeout);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0)
    return misuse(
      io,
      `--timeout: expected a positive number of milliseconds, got "${values.timeout}"`,
    );
  let base: URL;
  try {
    base = adminUrl(values, io);
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const problem of error.problems) io.err(`${problem}\n`);
      return 1;
    }
    return misuse(io, `--url: expected an http:// or https:// URL, got "${values.url}"`);
  }
  const url = new URL('/api/overview', base);
  let overview: Overview;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) {
      io.err(
        `mcp-bridge admin: ${url} answered ${res.status}: ${(await res.text()).slice(0, 300)}\n`,
      );
      return 1;
    }
    overview = (await res.json()) as Overview;
  } catch (error) {
    const inner = (error as { cause?: { code?: string; message?: string } }).cause;
    const cause = inner?.code ?? inner?.message ?? (error as Error).message;
    io.err(
      `mcp-bridge admin: no gateway answers at ${base.origin} (${cause}); is it running, with its admin listener on (admin.enabled, --admin-port)?\n`,
    );
    return 1;
  }
  const { text, healthy } = statusLines(overview);
  io.out(values.json ? `${JSON.stringify(overview, null, 2)}\n` : text);
  return healthy ? 0 : 1;
}
