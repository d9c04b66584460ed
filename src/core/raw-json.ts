import { isUtf8 } from 'node:buffer';
import { checkJsonObject } from './json-check.js';
import type { JSONRPCMessage, RequestId } from './jsonrpc.js';

/**
 * Large replies pass through as the bytes the backend wrote. A reply of a megabyte costs about
 * 2 ms to decode and parse and 4 ms to serialize and encode again, and the gateway only ever
 * changes a reply's `id`: it builds new objects when it changes anything else (a filtered list
 * is a new result). So a large reply is checked as bytes and its `result` parsed only if
 * something reads it; a reply whose result is still the one that came is written with the
 * backend's bytes. A parsed result is frozen, so that code which tries to change it in place
 * fails loudly instead of being silently ignored.
 */

/** Replies at least this long (in bytes) are read as bytes. */
export const RAW_RESULT_MIN_CHARS = 32 * 1024;

/** The bytes each parsed large result came as. */
const rawResults = new WeakMap<object, Buffer>();

// ── replies whose result is parsed only when read ────────────────────────────────────────

/** On a lazy reply (not enumerable, so a spread does not copy it): its result's bytes. */
const LAZY = Symbol('unparsed result');
type Lazy = Record<string | symbol, unknown> & { [LAZY]?: Buffer };

function materialize(this: Lazy): unknown {
  const bytes = this[LAZY]!;
  // Checked when the reply was read: this cannot throw.
  const value = JSON.parse(bytes.toString()) as object;
  rawResults.set(Object.freeze(value), bytes);
  settle(this, value);
  return value;
}

function settle(message: Lazy, value: unknown): void {
  Object.defineProperty(message, 'result', {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
  delete message[LAZY];
}

function lazyMessage(id: RequestId, bytes: Buffer): JSONRPCMessage {
  const message: Lazy = { jsonrpc: '2.0', id };
  Object.defineProperty(message, 'result', {
    enumerable: true,
    configurable: true,
    get: materialize,
    set(this: Lazy, value: unknown) {
      settle(this, value);
    },
  });
  Object.defineProperty(message, LAZY, { value: bytes, configurable: true });
  return message as unknown as JSONRPCMessage;
}

/**
 * A large reply read straight from its bytes: checked (valid UTF-8, one JSON object, exactly
 * `jsonrpc: "2.0"`, a string or number `id` and an object `result`), but its result parsed only
 * if something reads it. The gateway itself only reads the results of lists and handshakes, so
 * the result of a tool call, a read or a prompt usually goes out as the bytes it came in, never
 * decoded. Undefined for anything else, which the caller parses as usual.
 */
export function lazyReply(source: Buffer, start: number, end: number): JSONRPCMessage | undefined {
  if (end - start < RAW_RESULT_MIN_CHARS) return undefined;
  const line = source.subarray(start, end);
  if (!isUtf8(line)) return undefined;
  const members = checkJsonObject(line, 0, line.length);
  if (members?.length !== 3) return undefined;
  let version: string | undefined;
  let id: unknown;
  let result: Buffer | undefined;
  for (const { key, value } of members) {
    const name = JSON.parse(line.toString('utf8', key[0], key[1])) as string;
    if (name === 'jsonrpc') version = line.toString('utf8', value[0], value[1]);
    else if (name === 'id') id = JSON.parse(line.toString('utf8', value[0], value[1]));
    else if (name === 'result' && line[value[0]] === 0x7b /* { */)
      result = line.subarray(value[0], value[1]);
  }
  if (version !== '"2.0"' || result === undefined) return undefined;
  if (typeof id !== 'string' && typeof id !== 'number') return undefined;
  return lazyMessage(id, result);
}

/**
 * `message` answered under another id. A lazy reply stays lazy: a spread would read, and so
 * parse, its result.
 */
export function withId<M extends JSONRPCMessage>(message: M, id: RequestId): M {
  const bytes = (message as unknown as Lazy)[LAZY];
  if (bytes !== undefined) return lazyMessage(id, bytes) as M;
  return { ...message, id };
}

/** The bytes of a bare reply's result (jsonrpc, id, result), with its id; else undefined. */
function rawReply(message: JSONRPCMessage): { bytes: Buffer; id: string | number } | undefined {
  if (!('id' in message) || 'method' in message) return undefined;
  const id = message.id;
  if (typeof id !== 'string' && typeof id !== 'number') return undefined;
  let bytes = (message as unknown as Lazy)[LAZY];
  if (bytes === undefined) {
    const result: unknown = 'result' in message ? message.result : undefined;
    if (typeof result !== 'object' || result === null) return undefined;
    bytes = rawResults.get(result);
    if (bytes === undefined) return undefined;
  }
  return isBareReply(message) ? { bytes, id } : undefined;
}

const CLOSE = Buffer.from('}');

/**
 * `message` as the buffers to write one after the other, when its result came as bytes: the
 * result's own bytes are written as they came, without a copy. Undefined otherwise.
 */
export function encodeMessageBytes(message: JSONRPCMessage): Buffer[] | undefined {
  const reply = rawReply(message);
  if (!reply) return undefined;
  const head = Buffer.from(`{"jsonrpc":"2.0","id":${JSON.stringify(reply.id)},"result":`);
  return [head, reply.bytes, CLOSE];
}

/** The JSON text of `message`, with the bytes its result came as when it has them. */
export function encodeMessage(message: JSONRPCMessage): string {
  const reply = rawReply(message);
  if (!reply) return JSON.stringify(message);
  return `{"jsonrpc":"2.0","id":${JSON.stringify(reply.id)},"result":${reply.bytes.toString()}}`;
}

/** A reply with `jsonrpc`, `id` and `result` and nothing else. */
function isBareReply(message: JSONRPCMessage): boolean {
  if (message.jsonrpc !== '2.0') return false;
  let members = 0;
  for (const key in message) {
    if (key !== 'jsonrpc' && key !== 'id' && key !== 'result') return false;
    members++;
  }
  return members === 3;
}

/** The JSON text of a message or a batch of them. */
export function encodeMessages(body: JSONRPCMessage | readonly JSONRPCMessage[]): string {
  if (!Array.isArray(body)) return encodeMessage(body as JSONRPCMessage);
  return `[${body.map((m: JSONRPCMessage) => encodeMessage(m)).join(',')}]`;
}
