import { isUtf8 } from 'node:buffer';
import { checkJsonObject } from './json-check.js';
import type { JSONRPCMessage, RequestId } from './jsonrpc.js';

/**
 * Large results pass through as the text they came in. A reply of a megabyte costs about 3 ms
 * to serialize again, more than it cost to parse; the gateway only ever changes a reply's `id`,
 * and builds new objects when it changes anything else (a filtered list is a new result). So the
 * text of a large `result` is kept beside the object parsed from it, and a reply whose result is
 * still that object is written with that text. The object is frozen, so that code which tries to
 * change it in place fails loudly instead of being silently ignored.
 */

/** Results whose text is at least this long are kept as text. */
export const RAW_RESULT_MIN_CHARS = 32 * 1024;

/**
 * A kept result: its bytes when it came as valid UTF-8 bytes (what an HTTP reply writes; the text
 * is decoded from them when a stream needs it), else its text. One of the two, not both: a kept
 * copy stays in memory as long as the result does.
 */
type Raw = { text: string; bytes?: undefined } | { text?: undefined; bytes: Buffer };

const rawResults = new WeakMap<object, Raw>();

const WS_SPACE = 32;
const WS_TAB = 9;
const WS_LF = 10;
const WS_CR = 13;
const QUOTE = 34;
const BACKSLASH = 92;

function skipSpace(text: string, at: number): number {
  for (;;) {
    const c = text.charCodeAt(at);
    if (c !== WS_SPACE && c !== WS_TAB && c !== WS_LF && c !== WS_CR) return at;
    at++;
  }
}

/** The index just past the string whose opening quote is at `at`. */
function skipString(text: string, at: number): number {
  let quote = at;
  for (;;) {
    quote = text.indexOf('"', quote + 1);
    if (quote === -1) return -1;
    // Escaped if preceded by an odd number of backslashes.
    let slashes = 0;
    while (text.charCodeAt(quote - 1 - slashes) === BACKSLASH) slashes++;
    if (slashes % 2 === 0) return quote + 1;
  }
}

/** The index just past the value that starts at `at`. */
function skipValue(text: string, at: number): number {
  const first = text.charCodeAt(at);
  if (first === QUOTE) return skipString(text, at);
  if (first === 123 /* { */ || first === 91 /* [ */) {
    let depth = 0;
    let i = at;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === QUOTE) {
        i = skipString(text, i);
        if (i === -1) return -1;
        continue;
      }
      if (c === 123 || c === 91) depth++;
      else if (c === 125 /* } */ || c === 93 /* ] */) {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    return -1;
  }
  // A number, true, false or null: up to the next delimiter.
  let i = at;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 44 /* , */ || c === 125 || c === 93 || c <= WS_SPACE) break;
    i++;
  }
  return i;
}

/**
 * Where the value of the top-level member `key` lies in `text`, which must be a JSON object
 * that JSON.parse accepted: `[start, end)`, or undefined if there is no such member. The last
 * one counts when a key repeats, as it does for JSON.parse.
 */
export function memberSpan(text: string, key: string): [number, number] | undefined {
  let at = skipSpace(text, 0);
  if (text.charCodeAt(at) !== 123) return undefined;
  at = skipSpace(text, at + 1);
  let found: [number, number] | undefined;
  while (text.charCodeAt(at) === QUOTE) {
    const keyEnd = skipString(text, at);
    if (keyEnd === -1) return undefined;
    const raw = text.slice(at + 1, keyEnd - 1);
    const name = raw.includes('\\') ? (JSON.parse(text.slice(at, keyEnd)) as string) : raw;
    at = skipSpace(text, keyEnd);
    if (text.charCodeAt(at) !== 58 /* : */) return undefined;
    const start = skipSpace(text, at + 1);
    const end = skipValue(text, start);
    if (end === -1) return undefined;
    if (name === key) found = [start, end];
    at = skipSpace(text, end);
    if (text.charCodeAt(at) !== 44) break;
    at = skipSpace(text, at + 1);
  }
  return found;
}

/**
 * Keeps the text of `message`'s result, parsed from `text`, when it is large enough to be worth
 * it; and its bytes, when `text` was decoded from `source[start, end)` and those are valid UTF-8
 * (else the text has U+FFFD where the bytes had garbage, and only the text may be sent). The
 * result is frozen from here on.
 */
export function keepRawResult(
  message: unknown,
  text: string,
  source?: Buffer,
  start = 0,
  end = source?.length ?? 0,
): void {
  if (text.length < RAW_RESULT_MIN_CHARS) return;
  const result = (message as { result?: unknown }).result;
  if (typeof result !== 'object' || result === null || Array.isArray(result)) return;
  const span = memberSpan(text, 'result');
  if (!span) return;
  const kept = text.slice(span[0], span[1]);
  // A CR outside a string would end an SSE data line; inside one, JSON has it escaped.
  if (kept.includes('\r')) return;
  let raw: Raw = { text: kept };
  if (source) {
    const line = source.subarray(start, end);
    if (isUtf8(line)) {
      // The envelope around the result is short: its byte length is cheap to count.
      const from = Buffer.byteLength(text.slice(0, span[0]));
      const to = line.length - Buffer.byteLength(text.slice(span[1]));
      raw = { bytes: line.subarray(from, to) };
    }
  }
  rawResults.set(Object.freeze(result), raw);
}

// ── replies whose result is parsed only when read ────────────────────────────────────────

/** On a lazy reply (not enumerable, so a spread does not copy it): its result's bytes. */
const LAZY = Symbol('unparsed result');
type Lazy = Record<string | symbol, unknown> & { [LAZY]?: Buffer };

function materialize(this: Lazy): unknown {
  const bytes = this[LAZY]!;
  // Checked when the reply was read: this cannot throw.
  const value = JSON.parse(bytes.toString()) as object;
  rawResults.set(Object.freeze(value), { bytes });
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

/** The kept result of a bare reply (jsonrpc, id, result), with its id; else undefined. */
function rawReply(message: JSONRPCMessage): { raw: Raw; id: string | number } | undefined {
  const id = (message as { id?: unknown }).id;
  if (typeof id !== 'string' && typeof id !== 'number') return undefined;
  const lazy = (message as unknown as Lazy)[LAZY];
  if (lazy !== undefined) return isBareReply(message) ? { raw: { bytes: lazy }, id } : undefined;
  const result = (message as { result?: unknown }).result;
  if (typeof result !== 'object' || result === null) return undefined;
  const raw = rawResults.get(result);
  if (raw === undefined) return undefined;
  return isBareReply(message) ? { raw, id } : undefined;
}

const CLOSE = Buffer.from('}');

/**
 * `message` as the buffers to write one after the other, when its result was kept as bytes: the
 * result's own bytes are written as they came, without a copy. Undefined otherwise.
 */
export function encodeMessageBytes(message: JSONRPCMessage): Buffer[] | undefined {
  const reply = rawReply(message);
  if (!reply?.raw.bytes) return undefined;
  const head = Buffer.from(`{"jsonrpc":"2.0","id":${JSON.stringify(reply.id)},"result":`);
  return [head, reply.raw.bytes, CLOSE];
}

/** The JSON text of `message`: the kept text of its result when it has one, else JSON.stringify. */
export function encodeMessage(message: JSONRPCMessage): string {
  const reply = rawReply(message);
  if (!reply) return JSON.stringify(message);
  const text = reply.raw.text ?? reply.raw.bytes.toString();
  return `{"jsonrpc":"2.0","id":${JSON.stringify(reply.id)},"result":${text}}`;
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
