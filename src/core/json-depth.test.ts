import { describe, expect, it } from 'vitest';
import { nestsDeeperThan } from './json-depth.js';

const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

describe('nestsDeeperThan', () => {
  it('counts arrays and objects inside one another', () => {
    expect(nestsDeeperThan(nested(64), 64)).toBe(false);
    expect(nestsDeeperThan(nested(65), 64)).toBe(true);
    expect(nestsDeeperThan('{"a":{"b":[{"c":[]}]}}', 5)).toBe(false);
    expect(nestsDeeperThan('{"a":{"b":[{"c":[]}]}}', 4)).toBe(true);
    // Siblings do not add up.
    expect(nestsDeeperThan(`[${Array(100).fill('[[]]').join(',')}]`, 3)).toBe(false);
  });

  it('does not count brackets inside strings, escaped quotes included', () => {
    const inString = JSON.stringify({ text: '[{'.repeat(1000) });
    expect(nestsDeeperThan(inString, 2)).toBe(false);
    const escaped = JSON.stringify({ text: '\\"[[[[[[\\\\', more: '"{{{{{{' });
    expect(nestsDeeperThan(escaped, 1)).toBe(false);
    expect(nestsDeeperThan(JSON.stringify({ a: 'x\\', b: [[[]]] }), 3)).toBe(true);
  });

  it('stops at the first opener too deep, whatever follows', () => {
    expect(nestsDeeperThan(nested(100_000), 128)).toBe(true);
    expect(nestsDeeperThan('['.repeat(200) + '"unterminated', 128)).toBe(true);
    expect(nestsDeeperThan('"unterminated' + '['.repeat(200), 128)).toBe(false);
  });
});
