import type { BackendTransport } from './transport.js';
import { spawn as nodeSpawn } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import type { Logger } from '../core/logger.js';
import type { JSONRPCMessage } from '../core/jsonrpc.js';
import { describeInvalidMessage } from '../core/jsonrpc.js';
import { GatewayError, toErrorReply } from '../core/errors.js';
import { LineSplitter, idOfOversizeLine } from '../core/ndjson.js';
import type { OversizeLine } from '../core/ndjson.js';
import { channels } from '../core/diagnostics.js';
import { guardProcessGroup, releaseProcessGroup } from './process-reaper.js';
import type { ProcessSlot } from './process-budget.js';
import { RAW_RESULT_MIN_CHARS, lazyReply } from '../core/raw-json.js';

/**
 * Variables a backend inherits from the gateway when `inheritEnv` is left at its default: enough
 * to find executables and a home directory, none of the gateway's own secrets.
 */
export const DEFAULT_INHERITED_ENV = [
  'HOME',
  'LOGNAME',
  'PATH',
  'SHELL',
  'TERM',
  'USER',
  'LANG',
  'LC_ALL',
  'TMPDIR',
  'TZ',
  'NODE_EXTRA_CA_CERTS',
] as const;

export interface StdioBackendOptions {
  /** Backend name, for logs and errors. */
  name: string;
  command: string;
  /** @default [] */
  args?: readonly string[];
  /** @default the gateway's working directory */
  cwd?: string;
  /** Set on top of the inherited variables. */
  env?: Readonly<Record<string, string>>;
  /**
   * `true` passes the gateway's whole environment, `false` none of it, a list passes those names.
   * @default DEFAULT_INHERITED_ENV
   */
  inheritEnv?: boolean | readonly string[];
  /** A longer line on the backend's stdout is dropped and logged. @default 16 MiB */
  maxMessageBytes?: number;
  /** After closing stdin, how long to wait before SIGTERM, and again before SIGKILL. @default 2000 */
  killGraceMs?: number;
  log: Logger;
  /** A place under the process caps, taken before spawning and given back on exit. */
  slot?: ProcessSlot;
  /** Injected for tests. @default child_process.spawn */
  spawn?: (command: string, args: readonly string[], options: SpawnOptions) => ChildProcess;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /**
   * The last lines the process wrote to stderr, for the exit line in our log. Never in an error
   * a client sees: a backend's stderr can hold secrets (a token it failed to use, its environment).
   */
  stderrTail: string[];
}

const STDERR_TAIL_LINES = 10;

function buildEnv(options: StdioBackendOptions): NodeJS.ProcessEnv {
  const inherit = options.inheritEnv ?? DEFAULT_INHERITED_ENV;
  let env: NodeJS.ProcessEnv;
  if (inherit === true) env = { ...process.env };
  else if (inherit === false) env = {};
  else {
    env = {};
    for (const name of inherit) {
      const value = process.env[name];
      if (value !== undefined) env[name] = value;
    }
  }
  return options.env ? Object.assign(env, options.env) : env;
}

/**
 * A backend MCP server run as a child process, spoken to over newline-delimited JSON on its
 * stdin/stdout (the SDK's Transport contract, client side). Its stderr goes to our log.
 */
export class StdioBackendTransport implements BackendTransport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;

  private child: ChildProcess | undefined;
  private exited: ExitInfo | undefined;
  private closing = false;
  private readonly stderrTail: string[] = [];
  private readonly log: Logger;
  private exitPromise: Promise<void> | undefined;
  /** Lines sent in this event-loop turn and not yet written; see `send`. */
  private outbox: string[] = [];
  private flushScheduled = false;

  constructor(private readonly options: StdioBackendOptions) {
    this.log = options.log.child({ backend: options.name });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Set once the process has ended. */
  get exitInfo(): ExitInfo | undefined {
    return this.exited;
  }

  start(): Promise<void> {
    if (this.child) throw new Error('StdioBackendTransport already started');
    const { command, args = [], cwd, maxMessageBytes = 16 * 1024 * 1024 } = this.options;
    const spawn = this.options.spawn ?? nodeSpawn;
    this.options.slot?.acquire();
    return new Promise<void>((resolve, reject) => {
      let child: ChildProcess;
      try {
        child = spawn(command, args, {
          cwd,
          env: buildEnv(this.options),
          stdio: ['pipe', 'pipe', 'pipe'],
          // Own process group: we can signal the whole tree, and a Ctrl-C meant for the gateway
          // does not reach backends before the gateway has closed them in order.
          detached: true,
          windowsHide: true,
        });
      } catch (error) {
        this.options.slot?.release();
        reject(
          new GatewayError(
            'GATEWAY_BACKEND_UNAVAILABLE',
            `${this.options.name}: ${(error as Error).message}`,
          ),
        );
        return;
      }
      this.child = child;
      let started = false;

      child.once('spawn', () => {
        started = true;
        if (child.pid !== undefined) {
          guardProcessGroup(child.pid);
          this.options.slot?.started(child.pid);
        }
        this.log.debug({ pid: child.pid, command }, 'backend process started');
        if (channels.backendSpawn.hasSubscribers) {
          channels.backendSpawn.publish({ backend: this.options.name, pid: child.pid });
        }
        resolve();
      });
      child.once('error', (error) => {
        if (!started) {
          this.options.slot?.release();
          this.exited = { code: null, signal: null, stderrTail: [] };
          reject(
            new GatewayError(
              'GATEWAY_BACKEND_UNAVAILABLE',
              `${this.options.name}: cannot start "${command}": ${error.message}`,
            ),
          );
          return;
        }
        this.onerror?.(error);
      });

      const stdout = new LineSplitter(
        maxMessageBytes,
        (line) => this.receive(line),
        (line) => this.tooLarge(line, maxMessageBytes),
        (source, start, end) => {
          // A large reply is checked as bytes and its result parsed only if read.
          const message = lazyReply(source, start, end);
          if (message) this.onmessage?.(message);
          return message !== undefined;
        },
        RAW_RESULT_MIN_CHARS,
      );
      child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));

      const stderr = new LineSplitter(
        64 * 1024,
        (line) => {
          if (this.stderrTail.push(line) > STDERR_TAIL_LINES) this.stderrTail.shift();
          this.log.info({ stream: 'stderr' }, line);
        },
        () => this.log.info({ stream: 'stderr' }, '(a stderr line over 64 KiB, not shown)'),
      );
      child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
      // EPIPE when the process is gone: the exit handler reports it.
      child.stdin!.on('error', (error) => this.log.debug({ err: error }, 'backend stdin error'));

      this.exitPromise = new Promise<void>((done) => {
        child.once('close', (code, signal) => {
          this.options.slot?.release();
          if (child.pid !== undefined) releaseProcessGroup(child.pid);
          this.exited = { code, signal, stderrTail: [...this.stderrTail] };
          if (started) {
            const level = this.closing ? 'debug' : 'warn';
            this.log[level](
              { pid: child.pid, code, signal, stderrTail: this.exited.stderrTail },
              'backend process exited',
            );
            if (channels.backendExit.hasSubscribers) {
              channels.backendExit.publish({
                backend: this.options.name,
                pid: child.pid,
                code,
                signal,
              });
            }
          }
          done();
          this.onclose?.();
        });
      });
    });
  }

  /**
   * A message over the limit is not parsed. If it answers a request, that request fails with
   * GATEWAY_PAYLOAD_TOO_LARGE rather than waiting forever.
   */
  private tooLarge(line: OversizeLine, limit: number): void {
    const id = idOfOversizeLine(line);
    this.log.warn(
      { bytes: line.bytes, limit, id },
      'backend wrote a message over the size limit; dropped',
    );
    if (id === undefined) return;
    const error = new GatewayError(
      'GATEWAY_PAYLOAD_TOO_LARGE',
      `the backend's reply of ${line.bytes} bytes exceeds the limit of ${limit} bytes`,
    );
    this.onmessage?.(toErrorReply(id, error));
  }

  private receive(line: string): void {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      this.log.warn(
        { line: line.slice(0, 200) },
        'backend wrote a line to stdout that is not JSON; ignored',
      );
      return;
    }
    const problem = describeInvalidMessage(value);
    if (problem) {
      this.log.warn({ problem }, 'backend wrote a message that is not JSON-RPC; ignored');
      return;
    }
    this.onmessage?.(value as JSONRPCMessage);
  }

  /**
   * Messages sent in one event-loop turn go out in one write, flushed after the poll phase
   * (`setImmediate`), in the order they were sent. Every write wakes the backend, which on a
   * busy machine takes the core from the gateway: one wakeup per turn instead of one per message.
   */
  send(message: JSONRPCMessage): Promise<void> {
    const stdin = this.child?.stdin;
    if (!stdin || this.exited || this.closing || stdin.destroyed) {
      return Promise.reject(this.unavailable());
    }
    this.outbox.push(JSON.stringify(message));
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
    return Promise.resolve();
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const lines = this.outbox;
    if (lines.length === 0) return;
    this.outbox = [];
    const stdin = this.child?.stdin;
    // Gone since: as a write to a closed pipe would, the exit handler reports it.
    if (!stdin || stdin.destroyed || stdin.writableEnded) return;
    stdin.write(lines.length === 1 ? lines[0] + '\n' : lines.join('\n') + '\n');
  };

  /** The error to report for a process that is not (or no longer) running. */
  unavailable(): GatewayError {
    const info = this.exited;
    if (!info)
      return new GatewayError('GATEWAY_BACKEND_UNAVAILABLE', `${this.options.name} is not running`);
    const how = info.signal ? `signal ${info.signal}` : `code ${info.code}`;
    // The exit code or signal only: its stderr went to the log (see ExitInfo.stderrTail).
    return new GatewayError(
      'GATEWAY_BACKEND_EXITED',
      `${this.options.name} exited with ${how}; its stderr is in the gateway's log`,
    );
  }

  /**
   * Ends the process as the MCP stdio transport describes: close stdin, wait, SIGTERM, wait,
   * SIGKILL. Signals go to the whole process group.
   */
  async close(): Promise<void> {
    const child = this.child;
    if (!child || this.exited) return;
    if (this.closing) return this.exitPromise;
    this.closing = true;
    const grace = this.options.killGraceMs ?? 2000;
    // What was sent before close() still reaches the backend, ahead of the end of its input.
    this.flush();
    child.stdin?.end();
    const signalGroup = (signal: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        // already gone
      }
    };
    const waitExit = (ms: number) =>
      new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), ms);
        void this.exitPromise!.then(() => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    if (await waitExit(grace)) return;
    signalGroup('SIGTERM');
    if (await waitExit(grace)) return;
    signalGroup('SIGKILL');
    await this.exitPromise;
  }
}
