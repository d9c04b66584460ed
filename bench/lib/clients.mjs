/*
 * Minimal MCP clients for load generation, one per way in: Streamable HTTP (a bare HTTP/1.1
 * client over keep-alive connections, ./http1.mjs), WebSocket (plain JSON-RPC text frames, subprotocol `mcp`) and direct stdio
 * (the echo backend's own stdin/stdout). No SDK: the client must cost as little as possible and
 * the same for every target. Every reply is checked: its id, and that it is a result; a failure
 * of any kind rejects with a BenchError whose `kind` says what went wrong.
 */
import { spawn } from 'node:child_process';
import WebSocket from 'ws';
import { ConnectionPool } from './http1.mjs';
import { track } from './procs.mjs';

export const PROTOCOL_VERSION = '2025-11-25';

const INITIALIZE_PARAMS = {
  protocolVersion: PROTOCOL_VERSION,
  capabilities: {},
  clientInfo: { name: 'mcp-bridge-bench', version: '1.0.0' },
};

export class BenchError extends Error {
  /** @param {'http'|'rpc'|'id'|'result'|'transport'} kind */
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

let lastId = 0;
/** Request ids unique across the whole run. */
export const nextId = () => ++lastId;

/** The reply to request `id` among `messages`, checked. */
function settle(message, id) {
  if (message === undefined) throw new BenchError('id', `no reply with id ${id}`);
  if (message.id !== id)
    throw new BenchError('id', `reply id ${JSON.stringify(message.id)}, expected ${id}`);
  if (message.error)
    throw new BenchError('rpc', `JSON-RPC error ${message.error.code}: ${message.error.message}`);
  if (typeof message.result !== 'object' || message.result === null)
    throw new BenchError('result', 'reply without a result object');
  return message.result;
}

/** The messages in an SSE body: the `data:` lines of each event; events without data skipped. */
export function parseSse(text) {
  const messages = [];
  for (const event of text.split(/\r?\n\r?\n/)) {
    let data;
    for (const line of event.split(/\r?\n/)) {
      if (!line.startsWith('data:')) continue;
      const value = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
      data = data === undefined ? value : `${data}\n${value}`;
    }
    if (data === undefined || data === '') continue;
    messages.push(JSON.parse(data));
  }
  return messages;
}

/** Up to `size` keep-alive connections to a server on 127.0.0.1, shared by its sessions. */
export function httpPool(port, size) {
  return new ConnectionPool({ port, size });
}

/** One Streamable HTTP session. */
export class HttpSession {
  /**
   * @param {{ port: number, path?: string, pool: ConnectionPool }} options
   */
  constructor({ port, path = '/mcp', pool }) {
    this.port = port;
    this.path = path;
    this.pool = pool;
    this.sessionId = undefined;
    this.setHeaders({});
  }

  /** The request head for this session: every header but Content-Length. */
  setHeaders(extra) {
    let head =
      `POST ${this.path} HTTP/1.1\r\nHost: 127.0.0.1:${this.port}\r\n` +
      'Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n';
    for (const [name, value] of Object.entries(extra)) head += `${name}: ${value}\r\n`;
    this.head = head;
    this.extraHeaders = extra;
  }

  /** POSTs one message; resolves with the status, headers and body text. */
  async post(message) {
    try {
      const { status, headers, body } = await this.pool.request(this.head, JSON.stringify(message));
      return { status, headers, text: body.toString() };
    } catch (error) {
      throw new BenchError('transport', error.message);
    }
  }

  async request(method, params) {
    const id = nextId();
    const { status, headers, text } = await this.post({ jsonrpc: '2.0', id, method, params });
    const result = this.readReply(status, headers, text, id);
    return { result, headers };
  }

  readReply(status, headers, text, id) {
    if (status !== 200) throw new BenchError('http', `HTTP ${status}: ${text.slice(0, 200)}`);
    const type = headers['content-type'] ?? '';
    let messages;
    try {
      if (type.startsWith('application/json')) {
        const parsed = JSON.parse(text);
        messages = Array.isArray(parsed) ? parsed : [parsed];
      } else if (type.startsWith('text/event-stream')) {
        messages = parseSse(text);
      } else {
        throw new BenchError('http', `unexpected content-type "${type}"`);
      }
    } catch (error) {
      if (error instanceof BenchError) throw error;
      throw new BenchError('http', `unreadable body: ${error.message}`);
    }
    // Anything else on an SSE stream (progress, logs) is not ours to check.
    return settle(
      messages.find((m) => m.id !== undefined && m.method === undefined),
      id,
    );
  }

  async open() {
    const { result, headers } = await this.request('initialize', INITIALIZE_PARAMS);
    const sessionId = headers['mcp-session-id'];
    if (typeof sessionId !== 'string' || sessionId === '')
      throw new BenchError('http', 'initialize answered without an Mcp-Session-Id');
    this.sessionId = sessionId;
    this.setHeaders({
      'Mcp-Session-Id': sessionId,
      'Mcp-Protocol-Version': result.protocolVersion ?? PROTOCOL_VERSION,
    });
    const { status, text } = await this.post({
      jsonrpc: '2.0',
      method: 'notifications/initialized',
    });
    if (status !== 202 && status !== 200 && status !== 204)
      throw new BenchError(
        'http',
        `notifications/initialized: HTTP ${status}: ${text.slice(0, 200)}`,
      );
    return this;
  }

  async call(method, params) {
    return (await this.request(method, params)).result;
  }

  /** Ends the session with DELETE; failures do not matter here. */
  async close() {
    if (!this.sessionId) return;
    let head = `DELETE ${this.path} HTTP/1.1\r\nHost: 127.0.0.1:${this.port}\r\n`;
    for (const [name, value] of Object.entries(this.extraHeaders)) head += `${name}: ${value}\r\n`;
    await this.pool.request(head).catch(() => {});
    this.sessionId = undefined;
  }
}

/** Calls waiting for their reply on one connection, by id; all fail when it ends. */
class PendingCalls {
  map = new Map();

  add(id) {
    return new Promise((resolve, reject) => this.map.set(id, { resolve, reject }));
  }

  /** One message from the peer: settles the call it answers. */
  receive(message) {
    if (message.id === undefined || message.method !== undefined) return; // not a reply
    const entry = this.map.get(message.id);
    if (!entry) return;
    this.map.delete(message.id);
    try {
      entry.resolve(settle(message, message.id));
    } catch (error) {
      entry.reject(error);
    }
  }

  failAll(error) {
    for (const { reject } of this.map.values()) reject(error);
    this.map.clear();
  }
}

/** One WebSocket connection to `/ws`, one session (it opens with the first message). */
export class WsSession {
  constructor({ port, path = '/ws' }) {
    this.url = `ws://127.0.0.1:${port}${path}`;
    this.pending = new PendingCalls();
    this.socket = undefined;
  }

  /** Opens the connection only, sending nothing (idle connections). */
  connect() {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(this.url, 'mcp', { perMessageDeflate: false });
      this.socket = socket;
      socket.once('open', () => resolve(this));
      socket.once('error', (error) => reject(new BenchError('transport', error.message)));
      socket.on('message', (data) => {
        let message;
        try {
          message = JSON.parse(data.toString());
        } catch {
          return;
        }
        if (Array.isArray(message)) for (const m of message) this.pending.receive(m);
        else this.pending.receive(message);
      });
      socket.once('close', (code, reason) =>
        this.pending.failAll(new BenchError('transport', `closed ${code} ${reason}`)),
      );
    });
  }

  send(message) {
    if (this.socket?.readyState !== WebSocket.OPEN)
      return Promise.reject(new BenchError('transport', 'the WebSocket is not open'));
    const reply = message.id === undefined ? undefined : this.pending.add(message.id);
    this.socket.send(JSON.stringify(message));
    return reply;
  }

  call(method, params) {
    return this.send({ jsonrpc: '2.0', id: nextId(), method, params });
  }

  async open() {
    if (!this.socket) await this.connect();
    await this.call('initialize', INITIALIZE_PARAMS);
    this.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    return this;
  }

  async close() {
    const socket = this.socket;
    if (!socket || socket.readyState === WebSocket.CLOSED) return;
    await new Promise((resolve) => {
      const timer = setTimeout(() => {
        socket.terminate();
        resolve();
      }, 2000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.close(1000);
    });
  }
}

/** The echo backend run directly: the same requests on its stdin, replies from its stdout. */
export class StdioSession {
  constructor({ command, args, cwd }) {
    this.child = spawn(command, args, { cwd, stdio: ['pipe', 'pipe', 'inherit'], detached: true });
    this.handle = track(this.child, 'direct stdio');
    this.pending = new PendingCalls();
    // Chunks of an unfinished line are kept as they come and joined once, when it ends.
    let held = [];
    let heldBytes = 0;
    this.child.stdout.on('data', (chunk) => {
      let start = 0;
      for (;;) {
        const newline = chunk.indexOf(10, start);
        if (newline === -1) break;
        let line = chunk.subarray(start, newline);
        if (held.length > 0) {
          held.push(line);
          line = Buffer.concat(held, heldBytes + line.length);
          held = [];
          heldBytes = 0;
        }
        if (line.length > 0) this.pending.receive(JSON.parse(line.toString()));
        start = newline + 1;
      }
      if (start < chunk.length) {
        held.push(chunk.subarray(start));
        heldBytes += chunk.length - start;
      }
    });
    this.child.stdin.on('error', () => {});
    this.child.once('exit', (code, signal) =>
      this.pending.failAll(new BenchError('transport', `backend exited (${code ?? signal})`)),
    );
  }

  get pid() {
    return this.child.pid;
  }

  send(message) {
    const reply = message.id === undefined ? undefined : this.pending.add(message.id);
    this.child.stdin.write(`${JSON.stringify(message)}\n`);
    return reply;
  }

  call(method, params) {
    return this.send({ jsonrpc: '2.0', id: nextId(), method, params });
  }

  async open() {
    await this.call('initialize', INITIALIZE_PARAMS);
    this.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    return this;
  }

  close() {
    return this.handle.stop();
  }
}

/** One echo call, checked: the text that comes back must be the text sent. */
export async function echo(session, text) {
  const result = await session.call('tools/call', { name: 'echo', arguments: { text } });
  const content = result.content?.[0];
  if (content?.type !== 'text' || content.text !== text)
    throw new BenchError('result', 'the echoed text differs from the text sent');
}

/** One `bytes` call, checked: a text of exactly `n` bytes. */
export async function bytes(session, n) {
  const result = await session.call('tools/call', { name: 'bytes', arguments: { n } });
  const content = result.content?.[0];
  if (content?.type !== 'text' || content.text.length !== n)
    throw new BenchError('result', `expected a text of ${n} bytes`);
}
