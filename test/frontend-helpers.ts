import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';
import { waitFor } from './helpers.js';

/*
 * Helpers for the legacy SSE, stdio and Unix socket frontend tests: raw readers for SSE and
 * newline-delimited JSON, a client transport over any stream pair, and the built CLI.
 */

export const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

export interface JsonRpcReply {
  jsonrpc: '2.0';
  id: string | number | null;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: { code?: string } };
}

/** Collects newline-delimited JSON from a stream; `next` finds messages in order of arrival. */
export class JsonLines {
  readonly messages: Array<Record<string, unknown>> = [];
  /** Lines that were not JSON: anything here on a stdio stream is a bug. */
  readonly junk: string[] = [];
  /** Everything read, as text. */
  text = '';
  private buffer = '';
  private taken = new Set<number>();

  constructor(stream: Readable) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      this.text += chunk;
      this.buffer += chunk;
      let newline: number;
      while ((newline = this.buffer.indexOf('\n')) !== -1) {
        const line = this.buffer.slice(0, newline);
        this.buffer = this.buffer.slice(newline + 1);
        if (line.trim() === '') continue;
        try {
          this.messages.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          this.junk.push(line);
        }
      }
    });
  }

  /** The first message not yet returned that matches, waiting up to `ms`. */
  async next<T = JsonRpcReply>(
    match: (message: Record<string, unknown>) => boolean,
    what: string,
    ms = 15_000,
  ): Promise<T> {
    let found = -1;
    await waitFor(
      () => {
        found = this.messages.findIndex((m, i) => !this.taken.has(i) && match(m));
        return found !== -1;
      },
      ms,
      what,
    );
    this.taken.add(found);
    return this.messages[found] as T;
  }

  /** The reply to request `id`. */
  reply(id: string | number | null, ms?: number): Promise<JsonRpcReply> {
    return this.next((m) => m.id === id && !('method' in m), `the reply to request ${id}`, ms);
  }
}

export const line = (message: unknown): string => JSON.stringify(message) + '\n';

/** The SDK's Transport contract, client side, over a pair of streams speaking stdio framing. */
export class StreamClientTransport implements Transport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  private buffer = '';
  private closed = false;

  constructor(
    private readonly input: Readable,
    private readonly output: Writable,
  ) {}

  async start(): Promise<void> {
    this.input.setEncoding('utf8');
    this.input.on('data', (chunk: string) => {
      this.buffer += chunk;
      let newline: number;
      while ((newline = this.buffer.indexOf('\n')) !== -1) {
        const text = this.buffer.slice(0, newline);
        this.buffer = this.buffer.slice(newline + 1);
        try {
          this.onmessage?.(JSONRPCMessageSchema.parse(JSON.parse(text)));
        } catch (error) {
          this.onerror?.(error as Error);
        }
      }
    });
    this.input.once('end', () => void this.close());
  }

  async send(message: JSONRPCMessage): Promise<void> {
    this.output.write(JSON.stringify(message) + '\n');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.output.end();
    this.onclose?.();
  }
}

export interface SseEvent {
  event: string;
  data: string;
}

export interface RawSse {
  status: number;
  headers: Headers;
  /** The body, when the server answered with something other than a stream. */
  body: string;
  events: SseEvent[];
  /** Set once the server has ended the stream. */
  ended: boolean;
  next(match: (event: SseEvent) => boolean, what: string, ms?: number): Promise<SseEvent>;
  close(): void;
}

/** A GET on an SSE endpoint, read event by event (what EventSource does, minus reconnecting). */
export async function openRawSse(
  url: URL,
  accept = 'text/event-stream',
  headers: Record<string, string> = {},
): Promise<RawSse> {
  const controller = new AbortController();
  const res = await fetch(url, { headers: { ...headers, accept }, signal: controller.signal });
  const stream: RawSse = {
    status: res.status,
    headers: res.headers,
    body: '',
    events: [],
    ended: false,
    async next(match, what, ms = 15_000) {
      let found: SseEvent | undefined;
      await waitFor(
        () => {
          found = stream.events.find(match);
          return found !== undefined;
        },
        ms,
        what,
      );
      stream.events.splice(stream.events.indexOf(found!), 1);
      return found!;
    },
    close: () => controller.abort(),
  };
  if (res.headers.get('content-type') !== 'text/event-stream') {
    stream.body = await res.text();
    stream.ended = true;
    return stream;
  }
  void (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event: SseEvent = { event: 'message', data: '' };
          let hasData = false;
          for (const field of block.split('\n')) {
            if (field.startsWith('event: ')) event.event = field.slice(7);
            else if (field.startsWith('data: ')) {
              event.data += (hasData ? '\n' : '') + field.slice(6);
              hasData = true;
            }
          }
          if (hasData) stream.events.push(event);
        }
      }
    } catch {
      // aborted by close()
    }
    stream.ended = true;
  })();
  return stream;
}

/** Processes whose parent is `pid`, read from /proc. */
export function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) found.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

/**
 * Children of `pid` running one of `programs` (not the process reaper, which is a child too).
 */
export function backendsOf(pid: number, programs = ['server-everything']): number[] {
  return childrenOf(pid).filter((child) => {
    try {
      const cmdline = readFileSync(`/proc/${child}/cmdline`, 'utf8');
      return programs.some((program) => cmdline.includes(program));
    } catch {
      return false;
    }
  });
}

export interface CliRun {
  child: ChildProcess;
  stdout: JsonLines;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** The built CLI with piped stdio; the caller ends it (`stdin.end()` or a signal) in `finally`. */
export function runCli(args: string[]): CliRun {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<number | null>((resolve) =>
    child.once('close', (code) => resolve(code)),
  );
  return { child, stdout: new JsonLines(child.stdout!), stderr: () => stderr, exited };
}

/** What a CLI run that ends by itself printed, and its exit code. */
export interface CliOutput {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built CLI to its end in `cwd` (so no .env of the project's is read), with only PATH
 * and `env` in its environment.
 */
export function runCliIn(
  cwd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<CliOutput> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Stops a CLI process that a test left running, and waits for it. */
export async function stopCli(run: CliRun): Promise<void> {
  if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
  await run.exited;
}

export interface UnixClient {
  socket: Socket;
  lines: JsonLines;
  send(message: unknown): void;
  /** Ends our side and waits until the connection has closed. */
  close(): Promise<void>;
}

/** A raw newline-delimited JSON-RPC client on a Unix socket. */
export function connectUnix(path: string): Promise<UnixClient> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => {});
      const closed = new Promise<void>((done) => socket.once('close', () => done()));
      resolve({
        socket,
        lines: new JsonLines(socket),
        send: (message) => socket.write(line(message)),
        close: async () => {
          socket.end();
          await closed;
        },
      });
    });
  });
}

/** The port a CLI in HTTP mode reports in its "gateway listening" log line. */
export async function listeningPort(run: CliRun): Promise<number> {
  await waitFor(() => run.stderr().includes('"gateway listening"'), 15_000, 'the CLI to listen');
  const record = run
    .stderr()
    .split('\n')
    .find((l) => l.includes('"gateway listening"'))!;
  return (JSON.parse(record) as { port: number }).port;
}
