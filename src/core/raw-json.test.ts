import { describe, expect, it } from 'vitest';
import type { JSONRPCMessage } from './jsonrpc.js';
import {
  RAW_RESULT_MIN_CHARS,
  encodeMessage,
  encodeMessageBytes,
  keepRawResult,
  lazyReply,
  memberSpan,
  withId,
} from './raw-json.js';
import { randomObject, randomValue, rng, spaced } from '../../test/random-json.js';

const TRICKY = [
  '"',
  '\\',
  '\\"',
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  '\n',
  '\u2028',
  'é',
  '😀',
  ' ',
  'ab',
];
const GAPS = [' ', '', '\t', '  '];

describe('memberSpan', () => {
  it('finds a member among others, after nested values that contain quotes and brackets', () => {
    const text = '{"a":{"x":"}\\"]"},"b":[1,"[",{"c":null}],"result":{"k":"v"},"z":-1.5e3}';
    const span = memberSpan(text, 'result')!;
    expect(text.slice(...span)).toBe('{"k":"v"}');
    expect(text.slice(...memberSpan(text, 'z')!)).toBe('-1.5e3');
    expect(memberSpan(text, 'missing')).toBeUndefined();
  });

  it('takes the last of repeated keys, as JSON.parse does, and reads escaped key names', () => {
    const text = '{"result":1, "res\\u0075lt" : {"second":true} }';
    expect(text.slice(...memberSpan(text, 'result')!)).toBe('{"second":true}');
  });

  it('agrees with JSON.parse on 2,000 random objects with random spacing', () => {
    const next = rng(42);
    for (let i = 0; i < 2000; i++) {
      const value = randomObject(next, TRICKY);
      if (next() < 0.8) value.result = randomValue(next, TRICKY);
      const text = spaced(value, next, GAPS);
      const span = memberSpan(text, 'result');
      if (!('result' in value)) {
        expect(span).toBeUndefined();
        continue;
      }
      expect(span, text).toBeDefined();
      expect(JSON.parse(text.slice(...span!)), text).toEqual(JSON.parse(text).result);
    }
  });
});

describe('encodeMessage', () => {
  const big = 'x'.repeat(RAW_RESULT_MIN_CHARS);
  const line = `{"jsonrpc":"2.0", "id":7 ,"result": {"content":[{"type":"text","text":"${big}"}], "n": 1.50}}`;

  it('writes a large result as it came, under the id the reply carries now', () => {
    const message = JSON.parse(line) as JSONRPCMessage & { id: number };
    keepRawResult(message, line);
    const out = encodeMessage({ ...message, id: 'client-3' });
    expect(out).toContain('"n": 1.50'); // the backend's own text, not a re-encoding
    expect(JSON.parse(out)).toEqual({ ...JSON.parse(line), id: 'client-3' });
  });

  it('re-encodes when the result is another object or the reply has other members', () => {
    const message = JSON.parse(line) as JSONRPCMessage & { result: object };
    keepRawResult(message, line);
    const replaced = { ...message, result: { ...message.result, extra: true } };
    expect(JSON.parse(encodeMessage(replaced))).toEqual(replaced);
    expect(encodeMessage(replaced)).not.toContain('1.50');
    const widened = { ...message, extra: 1 } as unknown as JSONRPCMessage;
    expect(JSON.parse(encodeMessage(widened))).toEqual(widened);
  });

  it('freezes a kept result, so that changing it in place fails instead of being lost', () => {
    const message = JSON.parse(line) as { result: Record<string, unknown> };
    keepRawResult(message, line);
    expect(() => {
      message.result.n = 2;
    }).toThrow(TypeError);
  });

  it('keeps nothing for small results, results that are not objects, or text with a CR outside strings', () => {
    const small = '{"jsonrpc":"2.0","id":1,"result":{"a":1}}';
    const m1 = JSON.parse(small) as { result: object };
    keepRawResult(m1, small);
    expect(Object.isFrozen(m1.result)).toBe(false);
    const cr = line.replace('"n": 1.50', '"n":\r1.50');
    const m2 = JSON.parse(cr) as JSONRPCMessage & { result: object };
    keepRawResult(m2, cr);
    expect(Object.isFrozen(m2.result)).toBe(false);
    expect(encodeMessage(m2)).not.toContain('\r');
  });

  it('writes the bytes the backend sent, found by byte offset even with multi-byte text around', () => {
    const text = `{"jsonrpc":"2.0","_é😀":"ü","id":"a😀","result":{"t":"${big}ł😀"},"z":"é"}`;
    const bytes = Buffer.concat([Buffer.from('junk\n'), Buffer.from(text), Buffer.from('\nmore')]);
    const message = JSON.parse(text) as Record<string, unknown>;
    delete message['_é😀'];
    delete message.z;
    keepRawResult(message, text, bytes, 5, 5 + Buffer.byteLength(text));
    const parts = encodeMessageBytes({ ...(message as JSONRPCMessage), id: 9 } as JSONRPCMessage)!;
    expect(parts).toBeDefined();
    const out = Buffer.concat(parts).toString();
    expect(out).toBe(encodeMessage({ ...(message as JSONRPCMessage), id: 9 } as JSONRPCMessage));
    expect(JSON.parse(out)).toEqual({ jsonrpc: '2.0', id: 9, result: { t: `${big}ł😀` } });
  });

  it('keeps no bytes when they are not valid UTF-8, so the text (with U+FFFD) is sent instead', () => {
    const head = Buffer.from(`{"jsonrpc":"2.0","id":1,"result":{"t":"${big}`);
    const bytes = Buffer.concat([head, Buffer.from([0xff]), Buffer.from('"}}')]);
    const text = bytes.toString('utf8');
    const message = JSON.parse(text) as JSONRPCMessage;
    keepRawResult(message, text, bytes);
    expect(encodeMessageBytes(message)).toBeUndefined();
    expect(JSON.parse(encodeMessage(message))).toEqual(JSON.parse(text));
    expect(encodeMessage(message)).toContain('\uFFFD');
  });
});

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
