import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { FrameDecoder, FrameType, encodeFrame, encodeJsonFrame } from '../src/core/frames.js';
import type { Frame, FrameTypeNumber } from '../src/core/frames.js';
import { CLI } from './frontend-helpers.js';
import { waitFor } from './helpers.js';

/*
 * What the seed walkthroughs (test/seeds/) share: a gateway started as its user starts it (the
 * built CLI, `npm run build` first) with the addresses its banner prints, a framed TCP client,
 * and the check that docs/migrating.md names every feature a walkthrough leaves out.
 */

export interface CliGateway {
  child: ChildProcess;
  /** The banner's URLs, by label: `MCP (Streamable HTTP)`, `MCP (WebSocket)`, `metrics`, … */
  urls: Record<string, string>;
  stdout(): string;
  stderr(): string;
  stop(): Promise<void>;
}

/** Runs `mcp-bridge <args>` in `cwd` with only PATH and `env`, until its banner is out. */
export async function startCliGateway(
  cwd: string,
  args: string[],
  env: Record<string, string>,
): Promise<CliGateway> {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  try {
    await waitFor(
      () => stdout.includes('Try it:') || child.exitCode !== null,
      20_000,
      'the banner',
    );
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}; stderr: ${stderr}`, { cause: error });
  }
  if (child.exitCode !== null) throw new Error(`the gateway exited: ${stderr}`);
  const urls: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const match = /^ {2}(\S.*?) {2,}(\S+)/.exec(line);
    if (match) urls[match[1]!] = match[2]!;
  }
  return { child, urls, stdout: () => stdout, stderr: () => stderr, stop };
}

/** A framed TCP connection (docs/tcp-protocol.md): frames in, frames out. */
export class FrameClient {
  readonly frames: Frame[] = [];
  readonly closed: Promise<void>;
  private readonly decoder = new FrameDecoder({ maxPayloadBytes: 64 * 1024 * 1024 });

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.frames.push(...this.decoder.push(chunk)));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static open(url: string): Promise<FrameClient> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => resolve(new FrameClient(socket)));
      socket.once('error', reject);
    });
  }

  send(type: FrameTypeNumber, payload: unknown): void {
    this.socket.write(
      typeof payload === 'string' || Buffer.isBuffer(payload)
        ? encodeFrame(type, payload)
        : encodeJsonFrame(type, payload),
    );
  }

  /** The next frame of `type` (in order of arrival), waiting for it. */
  async next(type: FrameTypeNumber, what: string, from = 0): Promise<Frame> {
    let found: Frame | undefined;
    await waitFor(
      () => (found = this.frames.slice(from).find((f) => f.type === type)) !== undefined,
      10_000,
      what,
    );
    return found!;
  }

  /** The response frame whose JSON-RPC id is `id`. */
  async reply(id: number | string): Promise<Record<string, unknown>> {
    let found: Record<string, unknown> | undefined;
    await waitFor(
      () => {
        for (const f of this.frames) {
          if (f.type !== FrameType.response) continue;
          const m = JSON.parse(f.payload.toString('utf8')) as Record<string, unknown>;
          if (m.id === id) return (found = m) !== undefined;
        }
        return false;
      },
      10_000,
      `the TCP reply to ${id}`,
    );
    return found!;
  }

  close(): Promise<void> {
    this.socket.end();
    return this.closed;
  }
}

/** The names, out of `docs/migrating.md`'s section on `seed`, that it gives as left out. */
export function migratingSection(seed: string): string {
  const text = readFileSync(new URL('../docs/migrating.md', import.meta.url), 'utf8');
  const start = text.indexOf(`## Seed ${seed}`);
  if (start === -1) throw new Error(`docs/migrating.md has no section "## Seed ${seed}"`);
  const end = text.indexOf('\n## ', start + 1);
  return text.slice(start, end === -1 ? undefined : end);
}
