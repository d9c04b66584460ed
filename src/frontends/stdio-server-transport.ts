import type { Readable, Writable } from 'node:stream';
import type { ClientTransport } from '../session/session.js';
import type { JSONRPCMessage, RequestId } from '../core/jsonrpc.js';
import { checkClientMessage, isRequest, readableId } from '../core/jsonrpc.js';
import type { MessageProblem } from '../core/jsonrpc.js';
import { GatewayError, invalidMessage, toErrorReply, tooDeep } from '../core/errors.js';
import { nestsDeeperThan } from '../core/json-depth.js';
import type { Logger } from '../core/logger.js';
import { LineSplitter, idOfOversizeLine } from '../core/ndjson.js';
import type { OversizeLine } from '../core/ndjson.js';
import { encodeMessage } from '../core/raw-json.js';
import { ThrottledWarning } from '../core/throttled-warning.js';
import type { ThrottledWarningOptions } from '../core/throttled-warning.js';

export interface StdioServerTransportOptions {
  /** Where the client's messages arrive, as newline-delimited JSON-RPC. */
  input: Readable;
  /** Where messages to the client go, one JSON text per line. Nothing else is ever written here. */
  output: Writable;
  log: Logger;
  /** A longer input line is answered with a JSON-RPC error instead of being buffered. */
  maxMessageBytes: number;
  /** A line nesting arrays and objects deeper is answered with a JSON-RPC error, unparsed. */
  maxDepth: number;
  /** How refused lines are logged: the first few one by one, then summaries. @default {} */
  refusalLog?: ThrottledWarningOptions;
  /**
   * A throttle shared with other connections (a listener's), so that many connections sending
   * bad lines are summarized together too. @default one of this transport's own
   */
  refusals?: ThrottledWarning;
}

/**
 * The server side of MCP's stdio transport over any pair of byte streams: the gateway's own
 * stdin/stdout in `--serve stdio` mode, or one Unix socket connection. A line that is not a
 * JSON-RPC message is answered with an error and the session goes on, as a server would.
 */
export class StdioServerTransport implements ClientTransport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;

  private readonly input: Readable;
  private readonly output: Writable;
  private readonly log: Logger;
  private readonly splitter: LineSplitter;
  private readonly refusals: ThrottledWarning;
  /** A shared throttle summarizes on its own interval, not as each connection ends. */
  private readonly ownRefusals: boolean;
  private started = false;
  private closed = false;
  private announcedClose = false;
  private draining: Promise<void> | undefined;

  constructor(private readonly options: StdioServerTransportOptions) {
    this.input = options.input;
    this.output = options.output;
    this.log = options.log;
    this.ownRefusals = options.refusals === undefined;
    this.refusals =
      options.refusals ??
      new ThrottledWarning(options.log, 'refused a line from the client', options.refusalLog);
    this.splitter = new LineSplitter(
      options.maxMessageBytes,
      (line) => this.receive(line),
      (line) => this.oversize(line),
    );
  }

  async start(): Promise<void> {
    if (this.started) throw new Error('StdioServerTransport already started');
    this.started = true;
    this.input.on('data', this.onData);
    this.input.once('end', this.onEnd);
    this.input.once('close', this.onEnd);
    // Both stay attached after close: a late EPIPE or reset must never crash the gateway.
    this.input.on('error', this.onInputError);
    this.output.on('error', this.onOutputError);
    // A stream that was paused before it was handed over would otherwise never flow.
    this.input.resume();
  }

  private readonly onData = (chunk: Buffer | string): void => {
    this.splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  };

  private readonly onEnd = (): void => this.announceClose();

  private readonly onInputError = (error: Error): void => {
    this.log.debug({ err: error }, 'client input error');
    this.announceClose();
  };

  private readonly onOutputError = (error: Error): void => {
    this.log.debug({ err: error }, 'client output error; the client has gone');
    this.announceClose();
  };

  private receive(line: string): void {
    if (nestsDeeperThan(line, this.options.maxDepth)) {
      this.refuse(null, tooDeep(this.options.maxDepth));
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      this.refuse(null, new GatewayError('GATEWAY_PARSE_ERROR', (error as Error).message));
      return;
    }
    const batch = Array.isArray(value);
    const messages: unknown[] = Array.isArray(value) ? value : [value];
    const problem: MessageProblem | undefined =
      messages.length === 0
        ? { problem: 'an empty batch holds no message', params: false }
        : messages.map(checkClientMessage).find((p) => p !== undefined);
    if (problem) {
      this.refuse(null, invalidMessage(problem, batch ? null : readableId(value)));
      return;
    }
    for (const message of messages) this.onmessage?.(message as JSONRPCMessage);
  }

  private oversize(line: OversizeLine): void {
    const limit = this.options.maxMessageBytes;
    // The id, when one of the line's ends shows it, lets the request fail rather than wait forever.
    this.refuse(
      readableId({ id: idOfOversizeLine(line) }),
      new GatewayError(
        'GATEWAY_PAYLOAD_TOO_LARGE',
        `a message of ${line.bytes} bytes exceeds the limit of ${limit} bytes (limits.maxMessageBytes); it was dropped`,
      ),
    );
  }

  /** Answers a line we could not take with the JSON-RPC error a server owes it. */
  private refuse(id: RequestId | null, error: GatewayError): void {
    // Every refused line is answered; only the log is throttled.
    this.refusals.warn({ reason: error.message });
    this.send(toErrorReply(id, error)).catch(() => {});
  }

  send(message: JSONRPCMessage): Promise<void> {
    if (this.closed || this.output.writableEnded || this.output.destroyed) {
      return Promise.reject(
        new GatewayError('GATEWAY_SESSION_CLOSED', 'the client connection has closed'),
      );
    }
    if (this.output.write(encodeMessage(message) + '\n')) return Promise.resolve();
    // The client reads slower than we write. Node keeps what was written; the caller waits for
    // the drain, so whoever awaits its sends goes at the client's pace.
    return this.waitForDrain();
  }

  private waitForDrain(): Promise<void> {
    this.draining ??= new Promise<void>((resolve) => {
      const done = () => {
        this.output.off('drain', done);
        this.output.off('close', done);
        this.output.off('error', done);
        this.draining = undefined;
        resolve();
      };
      this.output.on('drain', done);
      this.output.on('close', done);
      this.output.on('error', done);
    });
    return this.draining;
  }

  /** The client's side has ended: tell the session, once, whatever told us first. */
  private announceClose(): void {
    if (this.announcedClose) return;
    this.announcedClose = true;
    if (this.ownRefusals) this.refusals.flush();
    this.onclose?.();
  }

  /**
   * Stops reading and ends the output, after everything already written. A transport that never
   * started leaves its streams alone: their owner may still want to answer the client.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.started) {
      this.input.off('data', this.onData);
      this.input.off('end', this.onEnd);
      this.input.off('close', this.onEnd);
      this.input.pause();
      if (!this.output.writableEnded && !this.output.destroyed) this.output.end();
    }
    this.announceClose();
  }
}

/** How long a client we cannot serve is given to send its first request, to answer it by id. */
const REFUSAL_WAIT_MS = 1000;

/**
 * For a client whose session could not open (its backend cannot start): answers the client's
 * first request with `error`, or sends the error with a null id if no request comes in time, then
 * ends the output. The client learns why, instead of seeing its connection just close.
 */
export async function refuseClient(
  input: Readable,
  output: Writable,
  error: unknown,
  maxMessageBytes: number,
  waitMs = REFUSAL_WAIT_MS,
): Promise<void> {
  const id = await firstRequestId(input, maxMessageBytes, waitMs);
  if (!output.writable) return;
  await new Promise<void>((resolve) => {
    output.once('error', () => resolve());
    output.end(JSON.stringify(toErrorReply(id, error)) + '\n', () => resolve());
  });
}

/** Reads until the client's first request (its id), the end of its input, or `ms`. */
function firstRequestId(input: Readable, maxBytes: number, ms: number): Promise<RequestId | null> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (id: RequestId | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      input.off('data', onData);
      input.off('end', onEnd);
      input.off('close', onEnd);
      input.pause();
      resolve(id);
    };
    const splitter = new LineSplitter(
      maxBytes,
      (line) => {
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch {
          return;
        }
        const message = value as JSONRPCMessage;
        if (checkClientMessage(value) === undefined && isRequest(message)) finish(message.id);
      },
      () => {},
    );
    const onData = (chunk: Buffer | string) =>
      splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    const onEnd = () => finish(null);
    const timer = setTimeout(() => finish(null), ms);
    input.on('data', onData);
    input.once('end', onEnd);
    input.once('close', onEnd);
  });
}
