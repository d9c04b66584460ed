import { describe, expect, it } from 'vitest';
import type { JSONRPCMessage } from './jsonrpc.js';
import {
  RAW_RESULT_MIN_CHARS,
  encodeMessage,
  encodeMessageBytes,
  lazyReply,
  withId,
} from './raw-json.js';

describe('lazyReply', () => {
  const big = 'x'.repeat(RAW_RESULT_MIN_CHARS);
  const text = `{"jsonrpc":"2.0","id":"b-1","result":{"content":[{"type":"text","text":"${big}é"}],"n":1.50}}`;
  const bytes = Buffer.from(`\n${text}\n`);
  const range = [1, 1 + Buffer.byteLength(text)] as const;

  it('reads a large reply from its bytes and writes those bytes under a new id, unparsed', () => {
    const message = lazyReply(bytes, ...range)!;
    expect(message).toBeDefined();
    const moved = withId(message, 42);
    const parts = encodeMessageBytes(moved)!;
    expect(parts[1]!.buffer).toBe(bytes.buffer); // the backend's own bytes, not a copy
    const out = Buffer.concat(parts).toString();
    expect(out).toContain('"n":1.50');
    expect(JSON.parse(out)).toEqual({ ...JSON.parse(text), id: 42 });
    expect(encodeMessage(moved)).toBe(out);
  });

  it('parses the result when something reads it, once, frozen; spreads and JSON.stringify see it', () => {
    const message = lazyReply(bytes, ...range) as JSONRPCMessage & {
      result: Record<string, unknown>;
    };
    const spread = { ...message, id: 1 };
    expect(spread.result).toEqual(JSON.parse(text).result);
    expect(message.result).toBe(spread.result);
    expect(Object.isFrozen(message.result)).toBe(true);
    expect(JSON.parse(JSON.stringify(message))).toEqual(JSON.parse(text));
    // Read, it still goes out as the backend's bytes.
    expect(Buffer.concat(encodeMessageBytes(spread)!).toString()).toContain('"n":1.50');
  });

  it('re-encodes a reply that gained a member, once its result was read', () => {
    const message = lazyReply(bytes, ...range)!;
    const widened = { ...message, extra: 1 } as unknown as JSONRPCMessage;
    expect(JSON.parse(encodeMessage(widened))).toEqual({ ...JSON.parse(text), extra: 1 });
    expect(encodeMessage(widened)).not.toContain('"n":1.50');
    expect(encodeMessageBytes(widened)).toBeUndefined();
  });

  it('writes a result that replaced the lazy one, not the kept bytes', () => {
    const message = lazyReply(bytes, ...range) as JSONRPCMessage & { result: unknown };
    message.result = { replaced: true };
    expect(JSON.parse(encodeMessage(message))).toEqual({
      jsonrpc: '2.0',
      id: 'b-1',
      result: { replaced: true },
    });
    expect(encodeMessageBytes(message)).toBeUndefined();
  });

  it('leaves to JSON.parse whatever is not a plain large reply', () => {
    const cases = [
      text.replace('"2.0"', '"1.0"'), // not JSON-RPC 2.0
      text.replace('"id":"b-1"', '"id":null'),
      text.replace('"result":{', '"error":{'),
      text.replace('"jsonrpc"', '"method":"x","jsonrpc"'), // a fourth member
      text.replace('"result":{', '"result":[').replace(',"n":1.50}}', ']}'),
      text.slice(0, -1), // not JSON
      text.replace(big, `${big}\t`), // a raw tab in a string
      `{"jsonrpc":"2.0","id":1,"result":{"a":1}}`, // small
    ];
    for (const candidate of cases) {
      const b = Buffer.from(candidate);
      expect(lazyReply(b, 0, b.length), candidate.slice(0, 80)).toBeUndefined();
    }
    const invalidUtf8 = Buffer.concat([
      Buffer.from(text.slice(0, 60)),
      Buffer.from([0xff]),
      Buffer.from(text.slice(60)),
    ]);
    expect(lazyReply(invalidUtf8, 0, invalidUtf8.length)).toBeUndefined();
  });
});
