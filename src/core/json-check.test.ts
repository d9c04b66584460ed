import { describe, expect, it } from 'vitest';
import { checkJsonObject, hasControlByte } from './json-check.js';

function rng(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

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

function randomString(next: () => number): string {
  let s = '';
  for (let n = Math.floor(next() * 6); n > 0; n--) s += PIECES[Math.floor(next() * PIECES.length)];
  return s;
}

function randomValue(next: () => number, depth: number): unknown {
  const r = next();
  if (depth > 3 || r < 0.35) {
    return [
      randomString(next),
      Math.floor(next() * 1e6) - 5e5,
      (next() - 0.5) * 1e-3,
      1e21 * next(),
      true,
      false,
      null,
    ][Math.floor(next() * 7)];
  }
  if (r < 0.65)
    return Array.from({ length: Math.floor(next() * 4) }, () => randomValue(next, depth + 1));
  const o: Record<string, unknown> = {};
  for (let k = Math.floor(next() * 4); k > 0; k--)
    o[randomString(next)] = randomValue(next, depth + 1);
  return o;
}

function spaced(value: unknown, next: () => number): string {
  const gap = () => [' ', '', '', '  '][Math.floor(next() * 4)]!;
  if (Array.isArray(value))
    return `[${gap()}${value.map((v) => spaced(v, next)).join(`${gap()},${gap()}`)}${gap()}]`;
  if (value !== null && typeof value === 'object')
    return `{${Object.entries(value)
      .map(([k, v]) => `${gap()}${JSON.stringify(k)}${gap()}:${gap()}${spaced(v, next)}`)
      .join(',')}${gap()}}`;
  return JSON.stringify(value);
}

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
      const value: Record<string, unknown> = {};
      for (let k = Math.floor(next() * 5); k > 0; k--)
        value[randomString(next)] = randomValue(next, 0);
      const text = spaced(value, next);
      for (const candidate of [text, mutate(text, next)]) {
        const bytes = Buffer.from(candidate);
        const expected = parsesToObject(candidate);
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
        expect(rebuilt, candidate).toEqual(JSON.parse(candidate));
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
