/*
 * A bare HTTP/1.1 client for load generation: one keep-alive connection per instance, one
 * request at a time, the request written as one buffer and the reply parsed straight off the
 * socket. node:http's client cost about 100 µs of CPU per call here, as much as the gateway
 * under test, so on a 2-core machine it took a core from the target; this one costs a fraction
 * of that. It reads what a server may send: Content-Length, chunked (trailers skipped) or a body
 * ended by the close; `Connection: close` retires the connection after the reply.
 */
import { connect } from 'node:net';

const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');
/** A reply head larger than this is an error, not something to wait for. */
const MAX_HEAD = 64 * 1024;

export class HttpConnectionError extends Error {}

/** `{ status, headers, body }`; header names lower-case, repeated headers joined with ", ". */
function parseHead(text) {
  const lines = text.split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!match) throw new HttpConnectionError(`bad status line: ${lines[0].slice(0, 80)}`);
  const headers = {};
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i].indexOf(':');
    if (colon <= 0) throw new HttpConnectionError(`bad header line: ${lines[i].slice(0, 80)}`);
    const name = lines[i].slice(0, colon).trim().toLowerCase();
    const value = lines[i].slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return { status: Number(match[1]), headers };
}

export class HttpConnection {
  /** @param {{ host?: string, port: number }} options */
  constructor({ host = '127.0.0.1', port }) {
    this.host = host;
    this.port = port;
    this.socket = undefined;
    this.closed = false;
    this.idleSince = 0;
    this.waiting = undefined; // { resolve, reject } of the request in flight
    this.reset();
  }

  reset() {
    this.head = undefined; // { status, headers } once the head is read
    this.buffered = []; // bytes not yet consumed (head, chunk-size lines)
    this.bufferedBytes = 0;
    this.body = [];
    this.bodyBytes = 0;
    this.mode = 'head'; // head | length | chunk-size | chunk-data | chunk-end | trailers | close
    this.remaining = 0;
  }

  open() {
    if (this.socket) return;
    const socket = connect({ host: this.host, port: this.port, noDelay: true });
    this.socket = socket;
    socket.on('data', (chunk) => {
      try {
        this.consume(chunk);
      } catch (error) {
        this.fail(error instanceof HttpConnectionError ? error : new HttpConnectionError(error));
        socket.destroy();
      }
    });
    socket.on('error', (error) => this.fail(new HttpConnectionError(error.message)));
    socket.on('close', () => {
      this.socket = undefined;
      if (this.waiting && this.mode === 'close') this.finish();
      else this.fail(new HttpConnectionError('connection closed before the reply ended'));
    });
  }

  fail(error) {
    const waiting = this.waiting;
    this.waiting = undefined;
    this.reset();
    waiting?.reject(error);
  }

  finish() {
    const waiting = this.waiting;
    const { status, headers } = this.head;
    const body = this.body.length === 1 ? this.body[0] : Buffer.concat(this.body, this.bodyBytes);
    this.waiting = undefined;
    const keep = !/\bclose\b/i.test(headers.connection ?? '') && this.mode !== 'close';
    this.reset();
    if (!keep) {
      this.socket?.destroy();
      this.socket = undefined;
    }
    waiting?.resolve({ status, headers, body });
  }

  /**
   * Sends one request. `head` is the request line and headers without the Content-Length and
   * the blank line; resolves with `{ status, headers, body }` (body a Buffer).
   */
  request(head, body) {
    if (this.closed) return Promise.reject(new HttpConnectionError('connection closed'));
    if (this.waiting) return Promise.reject(new HttpConnectionError('a request is in flight'));
    this.open();
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      const payload = body === undefined ? undefined : Buffer.from(body);
      const length = payload === undefined ? '' : `Content-Length: ${payload.length}\r\n`;
      const bytes = Buffer.from(`${head}${length}\r\n`, 'latin1');
      this.socket.write(payload === undefined ? bytes : Buffer.concat([bytes, payload]));
    });
  }

  /** Takes bytes off the socket and advances the reply. */
  consume(chunk) {
    if (!this.waiting) throw new HttpConnectionError('bytes from the server with no request');
    let at = 0;
    while (at < chunk.length) {
      switch (this.mode) {
        case 'head': {
          const bytes = this.take(chunk, at, HEAD_END);
          if (bytes === undefined) return;
          at = bytes.next;
          this.head = parseHead(bytes.line.toString('latin1'));
          const { headers, status } = this.head;
          if (status === 204 || status === 304) return this.done(chunk, at);
          if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) this.mode = 'chunk-size';
          else if (headers['content-length'] !== undefined) {
            this.remaining = Number(headers['content-length']);
            if (!Number.isSafeInteger(this.remaining) || this.remaining < 0)
              throw new HttpConnectionError(`bad Content-Length ${headers['content-length']}`);
            this.mode = 'length';
            if (this.remaining === 0) return this.done(chunk, at);
          } else this.mode = 'close';
          break;
        }
        case 'length': {
          const n = Math.min(this.remaining, chunk.length - at);
          this.keep(chunk.subarray(at, at + n));
          at += n;
          this.remaining -= n;
          if (this.remaining === 0) return this.done(chunk, at);
          break;
        }
        case 'close':
          this.keep(chunk.subarray(at));
          return;
        case 'chunk-size': {
          const bytes = this.take(chunk, at, CRLF);
          if (bytes === undefined) return;
          at = bytes.next;
          const size = parseInt(bytes.line.toString('latin1'), 16);
          if (!Number.isSafeInteger(size) || size < 0)
            throw new HttpConnectionError(`bad chunk size ${bytes.line.toString('latin1')}`);
          this.remaining = size;
          this.mode = size === 0 ? 'trailers' : 'chunk-data';
          break;
        }
        case 'chunk-data': {
          const n = Math.min(this.remaining, chunk.length - at);
          this.keep(chunk.subarray(at, at + n));
          at += n;
          this.remaining -= n;
          if (this.remaining === 0) this.mode = 'chunk-end';
          break;
        }
        case 'chunk-end': {
          const bytes = this.take(chunk, at, CRLF);
          if (bytes === undefined) return;
          if (bytes.line.length !== 0) throw new HttpConnectionError('chunk not followed by CRLF');
          at = bytes.next;
          this.mode = 'chunk-size';
          break;
        }
        case 'trailers': {
          const bytes = this.take(chunk, at, CRLF);
          if (bytes === undefined) return;
          at = bytes.next;
          if (bytes.line.length === 0) return this.done(chunk, at);
          break;
        }
        default:
          throw new HttpConnectionError(`parser state ${this.mode}`);
      }
    }
  }

  done(chunk, at) {
    if (at < chunk.length) throw new HttpConnectionError('bytes after the end of the reply');
    this.finish();
  }

  keep(bytes) {
    if (bytes.length === 0) return;
    this.body.push(bytes);
    this.bodyBytes += bytes.length;
  }

  /**
   * The bytes up to `delimiter` (held bytes from earlier chunks first) and the offset in
   * `chunk` just after it; or undefined, with the rest of `chunk` held, when it has not come.
   */
  take(chunk, at, delimiter) {
    if (this.bufferedBytes === 0) {
      const end = chunk.indexOf(delimiter, at);
      if (end !== -1) return { line: chunk.subarray(at, end), next: end + delimiter.length };
    }
    const joined = Buffer.concat([...this.buffered, chunk.subarray(at)]);
    const base = this.bufferedBytes;
    const end = joined.indexOf(delimiter);
    if (end === -1) {
      if (joined.length > MAX_HEAD) throw new HttpConnectionError('reply head too large');
      this.buffered = [joined];
      this.bufferedBytes = joined.length;
      return undefined;
    }
    this.buffered = [];
    this.bufferedBytes = 0;
    return { line: joined.subarray(0, end), next: at + (end + delimiter.length - base) };
  }

  close() {
    this.closed = true;
    this.socket?.destroy();
    this.socket = undefined;
  }
}

/**
 * A connection idle this long is closed rather than reused: servers close idle keep-alive
 * connections (Node's after 5 s), and a request written as the server's FIN is on its way is
 * reset. Clients such as browsers avoid the race the same way.
 */
const MAX_IDLE_MS = 4000;

/** Up to `size` connections to one server, each lent to one request at a time. */
export class ConnectionPool {
  /** @param {{ host?: string, port: number, size: number }} options */
  constructor({ host = '127.0.0.1', port, size }) {
    this.host = host;
    this.port = port;
    this.size = size;
    this.idle = [];
    this.all = new Set();
    this.queue = [];
  }

  acquire() {
    const now = performance.now();
    for (let idle = this.idle.pop(); idle; idle = this.idle.pop()) {
      if (now - idle.idleSince < MAX_IDLE_MS) return idle;
      idle.close();
      this.all.delete(idle);
    }
    if (this.all.size < this.size) {
      const connection = new HttpConnection({ host: this.host, port: this.port });
      this.all.add(connection);
      return connection;
    }
    return new Promise((resolve) => this.queue.push(resolve));
  }

  release(connection) {
    const next = this.queue.shift();
    if (next) next(connection);
    else {
      connection.idleSince = performance.now();
      this.idle.push(connection);
    }
  }

  /** Sends one request on a free connection; see HttpConnection.request. */
  async request(head, body) {
    const connection = await this.acquire();
    try {
      return await connection.request(head, body);
    } finally {
      this.release(connection);
    }
  }

  destroy() {
    for (const connection of this.all) connection.close();
    this.all.clear();
    this.idle = [];
  }
}
