import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_TABLE } from './errors.js';
import { configSchema } from '../config/schema.js';

const doc = (name: string) => readFileSync(new URL(`../../${name}`, import.meta.url), 'utf8');

describe('error docs', () => {
  it('docs/errors.md documents every code of the error table with its status and JSON-RPC code', () => {
    const errors = doc('docs/errors.md');
    for (const [code, { status, rpc }] of Object.entries(ERROR_TABLE)) {
      const row = errors.split('\n').find((line) => line.startsWith(`| \`${code}\``));
      expect(row, code).toBeDefined();
      expect(row!.split('|').map((cell) => cell.trim())).toEqual(
        expect.arrayContaining([String(status), String(rpc)]),
      );
    }
  });

  it('README and docs/streamable-http.md give the idle timeout the schema defaults to', () => {
    const idle = configSchema.parse({ backends: { a: { command: 'x' } } }).sessions.idleTimeoutMs;
    expect(idle).toBe(3_600_000);
    for (const name of ['README.md', 'docs/streamable-http.md']) {
      expect(doc(name), name).not.toMatch(/30 minutes/);
    }
    expect(doc('docs/streamable-http.md')).toContain('`sessions.idleTimeoutMs` (1 hour)');
  });
});
