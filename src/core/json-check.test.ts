import { describe, expect, it } from 'vitest';
import { checkJsonObject, hasControlByte } from './json-check.js';
import { randomObject, rng, spaced } from '../../test/random-json.js';

const PIECES = [
  '"',
  '\\',
  '\\"',
  '\\u00e9',
  '\\n',
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  'é',
  '😀',
  ' ',
  'ab',
];
/** No tab: a byte below 0x20 makes the check give up, which a test of its own covers. */
const GAPS = [' ', '', '', '  '];

const MUTATIONS = [
  '"',
  '\\',
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  '0',
  '-',
  '.',
  'e',
  'x',
  'n',
  't',
  ' ',
  '\\u12',
  '01',
  '1.',
  '-.5',
];

function mutate(text: string, next: () => number): string {
  const at = Math.floor(next() * (text.length + 1));
  const piece = MUTATIONS[Math.floor(next() * MUTATIONS.length)]!;
  const r = next();
  if (r < 0.4) return text.slice(0, at) + piece + text.slice(at);
  if (r < 0.7) return text.slice(0, at) + text.slice(at + 1 + Math.floor(next() * 3));
  return text.slice(0, at) + piece + text.slice(at + piece.length);
}

/** What JSON.parse says: an object, or not (arrays, scalars and errors are not). */
function parsesToObject(text: string): boolean {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

describe('checkJsonObject', () => {
  it('agrees with JSON.parse on 20,000 random objects and mutations of them', () => {
    const next = rng(7);
    let valid = 0;
    let invalid = 0;
    for (let n = 0; n < 10_000; n++) {
      const text = spaced(randomObject(next, PIECES), next, GAPS);
      for (const candidate of [text, mutate(text, next)]) {
        // What the bytes say: a cut through a surrogate pair encodes as U+FFFD.
        const bytes = Buffer.from(candidate);
        const decoded = bytes.toString();
        const expected = parsesToObject(decoded);
        const members = checkJsonObject(bytes, 0, bytes.length);
        expect(members !== undefined, candidate).toBe(expected);
        if (!members) {
          invalid++;
          continue;
        }
        valid++;
        // The spans read back as JSON.parse reads the whole (the last of a repeated key wins).
        const rebuilt: Record<string, unknown> = {};
        for (const { key, value: span } of members) {
          const name = JSON.parse(bytes.subarray(...key).toString()) as string;
          rebuilt[name] = JSON.parse(bytes.subarray(...span).toString());
        }
        expect(rebuilt, candidate).toEqual(JSON.parse(decoded));
      }
    }
    // Both sides were exercised.
    expect(valid).toBeGreaterThan(5000);
    expect(invalid).toBeGreaterThan(2000);
  });

  it('reads a range of a larger buffer, and long strings with escapes spread through them', () => {
    const long = 'x'.repeat(100_000) + '\\"' + 'y'.repeat(50_000) + '\\u00e9' + 'z'.repeat(10);
    const text = `{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"${long}"}]}}`;
    const bytes = Buffer.from(`garbage\n${text}\nmore`);
    const members = checkJsonObject(bytes, 8, 8 + text.length)!;
    expect(members.map((m) => bytes.subarray(...m.key).toString())).toEqual([
      '"jsonrpc"',
      '"id"',
      '"result"',
    ]);
    expect(JSON.parse(bytes.subarray(...members[2]!.value).toString())).toEqual(
      JSON.parse(text).result,
    );
    expect(checkJsonObject(bytes, 8, 8 + text.length - 1)).toBeUndefined();
  });

  it('gives up on any byte below 0x20, even where JSON allows it as whitespace', () => {
    for (const text of ['{"a":\t1}', '{"a":1}\r', '{"a":"\u0001"}']) {
      const bytes = Buffer.from(text);
      expect(checkJsonObject(bytes, 0, bytes.length)).toBeUndefined();
    }
  });
});

describe('hasControlByte', () => {
  it('finds a control byte at every offset and alignment', () => {
    const base = Buffer.alloc(64, 0x61);
    for (let start = 0; start < 4; start++) {
      expect(hasControlByte(base, start, 64)).toBe(false);
      for (let at = start; at < 64; at++) {
        const b = Buffer.from(base);
        b[at] = 0x1f;
        expect(hasControlByte(b, start, 64)).toBe(true);
        // High bytes (UTF-8 continuation) are not control bytes.
        b[at] = 0xc3;
        expect(hasControlByte(b, start, 64)).toBe(false);
      }
    }
  });
});
