import { checkClientMessage, readableId } from '../core/jsonrpc.js';
import type { JSONRPCMessage } from '../core/jsonrpc.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError, invalidMessage, tooDeep } from '../core/errors.js';
import { nestsDeeperThan } from '../core/json-depth.js';

/** Bodies refused as too large are read and dropped up to this size in all (or the limit, if larger). */
const DRAIN_MAX_BYTES = 64 * 1024 * 1024;

/**
 * Reads and drops the rest of a body refused as too large, then rejects with `error`. A client
 * still sending it then reads the 413 and a clean close; answering at once would close the
 * socket under its writes, which it sees as a broken pipe (EPIPE) or a reset, not as the 413.
 * A body that goes past `max` bytes in all is not waited for.
 */
function refuseAfterDrain(
  req: IncomingMessage,
  received: number,
  max: number,
  error: GatewayError,
): Promise<never> {
  if (req.readableEnded) return Promise.reject(error);
  return new Promise((_, reject) => {
    let size = received;
    // Whichever comes first: the end of the body, too much of it, an error, or the client gone.
    const done = () => {
      req.off('data', onData);
      req.off('end', done);
      req.off('error', done);
      req.off('close', done);
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) done();
    };
    req.on('data', onData);
    req.once('end', done);
    req.once('error', done);
    req.once('close', done);
    req.resume();
  });
}

/**
 * Reads a request body up to `limit` bytes. A declared or actual size over the limit fails with
 * GATEWAY_PAYLOAD_TOO_LARGE as soon as it is known, without buffering the rest: the rest is
 * read and dropped first (up to 64 MiB, or `limit`), so that the client can read the answer.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  const drainMax = Math.max(limit, DRAIN_MAX_BYTES);
  if (Number.isFinite(declared) && declared > limit) {
    const error = new GatewayError(
      'GATEWAY_PAYLOAD_TOO_LARGE',
      `body of ${declared} bytes exceeds the limit of ${limit}`,
    );
    // A body too large even to drop is answered at once; the connection closes under it.
    return declared > drainMax ? Promise.reject(error) : refuseAfterDrain(req, 0, drainMax, error);
  }
  // Usually the whole body came with the head and waits in the stream: taken now, not over
  // the ticks that flowing mode would take.
  if (declared > 0 && req.readableFlowing === null && req.readableLength === declared) {
    return Promise.resolve(req.read() as Buffer);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        // The connection is closed after the 413 is written, once the rest has been dropped.
        const error = new GatewayError(
          'GATEWAY_PAYLOAD_TOO_LARGE',
          `body exceeds the limit of ${limit} bytes`,
        );
        refuseAfterDrain(req, size, drainMax, error).catch(reject);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/**
 * Refuses a body sent with a Content-Encoding (gzip, deflate, …) with 415 naming it. Decoding
 * was the other choice; refusing keeps a small body from inflating past the size limit inside
 * the gateway (a zip bomb), and no MCP client compresses what it posts.
 */
export function refuseEncodedBody(req: IncomingMessage): void {
  const encoding = req.headers['content-encoding'];
  if (encoding === undefined || encoding.trim().toLowerCase() === 'identity') return;
  throw new GatewayError(
    'GATEWAY_UNSUPPORTED_MEDIA_TYPE',
    `Content-Encoding "${encoding}" is not supported; send the body uncompressed`,
  );
}

/** Writes `body` as the whole JSON response; returns its size in bytes. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers?: Record<string, string>,
): number {
  return sendJsonText(res, status, JSON.stringify(body), headers);
}

/** Writes `parts`, JSON once joined, as the whole response; returns its size in bytes. */
export function sendJsonBytes(
  res: ServerResponse,
  status: number,
  parts: readonly Buffer[],
  headers?: Record<string, string>,
): number {
  let length = 0;
  for (const part of parts) length += part.length;
  writeJsonHead(res, status, length, headers);
  res.cork();
  for (let i = 0; i < parts.length - 1; i++) res.write(parts[i]);
  res.end(parts[parts.length - 1]);
  res.uncork();
  return length;
}

/** Writes `text`, already JSON, as the whole response; returns its size in bytes. */
export function sendJsonText(
  res: ServerResponse,
  status: number,
  text: string,
  headers?: Record<string, string>,
): number {
  // Encoded once: the length is the buffer's, and the socket writes the buffer as it is.
  const data = Buffer.from(text);
  writeJsonHead(res, status, data.length, headers);
  res.end(data);
  return data.length;
}

function writeJsonHead(
  res: ServerResponse,
  status: number,
  length: number,
  headers: Record<string, string> | undefined,
): void {
  res.writeHead(
    status,
    headers === undefined
      ? { 'content-type': 'application/json', 'content-length': length }
      : { ...headers, 'content-type': 'application/json', 'content-length': length },
  );
}

/**
 * The media ranges of the Accept header seen last, lower-cased and without parameters. A client
 * sends the same header with every request, and a POST asks about two types: parsed once.
 */
let lastAccept: string | undefined;
let lastMedia: readonly string[] = [];

function mediaRanges(header: string): readonly string[] {
  if (header !== lastAccept) {
    const media: string[] = [];
    for (const part of header.split(',')) media.push(part.split(';', 1)[0]!.trim().toLowerCase());
    lastMedia = media;
    lastAccept = header;
  }
  return lastMedia;
}

/** Whether an Accept header admits `type` (exactly, or through `*\/*` or `type/*`). */
export function accepts(header: string | undefined, type: string): boolean {
  if (!header) return false;
  const slash = type.indexOf('/');
  for (const media of mediaRanges(header)) {
    if (media === type || media === '*/*') return true;
    // `type/*`
    if (
      media.length === slash + 2 &&
      media.endsWith('/*') &&
      type.startsWith(media.slice(0, slash))
    )
      return true;
  }
  return false;
}

/**
 * One server-sent-events response. JSON text never holds a raw newline, so every message is one
 * `data:` line.
 */
export class SseStream {
  private ended = false;

  constructor(
    private readonly res: ServerResponse,
    headers: Record<string, string> = {},
  ) {
    res.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // Tell buffering proxies (nginx) to pass events through as they come.
      'x-accel-buffering': 'no',
    });
    res.flushHeaders();
    res.once('close', () => {
      this.ended = true;
    });
  }

  get isOpen(): boolean {
    return !this.ended && !this.res.destroyed;
  }

  /** Writes one `message` event, with an event id when the stream is resumable; false if the stream is gone. */
  write(json: string, id?: string): boolean {
    if (!this.isOpen) return false;
    this.res.write(
      id === undefined
        ? `event: message\ndata: ${json}\n\n`
        : `id: ${id}\nevent: message\ndata: ${json}\n\n`,
    );
    return true;
  }

  /**
   * The priming event of a resumable stream: an id and no data, so that a client cut off before
   * the first message still has a Last-Event-ID to resume from, and how long to wait before it does.
   */
  prime(id: string, retryMs: number): void {
    if (this.isOpen) this.res.write(`id: ${id}\nretry: ${retryMs}\ndata:\n\n`);
  }

  /** A comment line, which clients ignore; keeps idle connections from timing out in proxies. */
  keepalive(): void {
    if (this.isOpen) this.res.write(': keepalive\n\n');
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.res.end();
  }
}

/**
 * The JSON-RPC message or batch in a POST body, checked for shape; throws the GatewayError a
 * client should see (parse error, nesting over `maxDepth`, empty batch, the member that is wrong).
 */
export function parseMessages(
  body: Buffer,
  maxDepth: number,
): { messages: JSONRPCMessage[]; batch: boolean } {
  const text = body.toString('utf8');
  if (nestsDeeperThan(text, maxDepth)) throw tooDeep(maxDepth);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new GatewayError('GATEWAY_PARSE_ERROR', (error as Error).message);
  }
  const batch = Array.isArray(parsed);
  const messages = (batch ? parsed : [parsed]) as JSONRPCMessage[];
  if (messages.length === 0) {
    throw new GatewayError('GATEWAY_INVALID_REQUEST', 'an empty batch holds no message');
  }
  for (let i = 0; i < messages.length; i++) {
    const problem = checkClientMessage(messages[i]);
    if (problem) {
      // A batch is refused whole, with a null id: no one id answers it.
      throw batch
        ? invalidMessage(problem, null, `message ${i}`)
        : invalidMessage(problem, readableId(parsed));
    }
  }
  return { messages, batch };
}
