import { isUtf8 } from 'node:buffer';
import type { JSONRPCMessage } from './jsonrpc.js';

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

/** The kept result of a bare reply (jsonrpc, id, result), with its id; else undefined. */
function rawReply(message: JSONRPCMessage): { raw: Raw; id: string | number } | undefined {
  const result = (message as { result?: unknown }).result;
  if (typeof result !== 'object' || result === null) return undefined;
  const raw = rawResults.get(result);
  if (raw === undefined) return undefined;
  const id = (message as { id?: unknown }).id;
  if (typeof id !== 'string' && typeof id !== 'number') return undefined;
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
