import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { configJsonSchema } from './json-schema.js';
import { loadConfig } from './load.js';

type Schema = Record<string, unknown> & {
  properties: Record<string, Schema>;
  additionalProperties: Schema & { anyOf: Schema[] };
  required?: string[];
};

const schema = configJsonSchema() as Schema;
// Claim values may be a string, number or boolean: a type list, which draft 2020-12 allows.
const validate = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true }).compile(
  schema,
);

/** The first YAML block of docs/configuration.md that has backends: the complete example. */
function docsExample(): string {
  const docs = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  const block = [...docs.matchAll(/```yaml\n([\s\S]*?)```/g)]
    .map((m) => m[1]!)
    .find((text) => text.includes('backends:') && text.includes('server:'));
  if (!block) throw new Error('docs/configuration.md has no complete example');
  return block;
}

describe('configJsonSchema', () => {
  it('is a titled draft 2020-12 schema of a closed object', () => {
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.title).toBe('mcp-bridge configuration');
    expect(schema.type).toBe('object');
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(['backends']);
  });

  it('describes backends as a union of stdio and remote objects, transport optional', () => {
    const backends = schema.properties.backends!;
    expect(backends.type).toBe('object');
    expect(backends.minProperties).toBe(1);
    const variants = backends.additionalProperties.anyOf;
    const stdio = variants.find((v) => v.properties.command)!;
    expect(Object.keys(stdio.properties)).toEqual(
      expect.arrayContaining(['transport', 'command', 'args', 'env', 'processModel', 'tools']),
    );
    expect(stdio.properties.tools!.properties.include).toMatchObject({ type: 'array' });
    expect(stdio.required).toEqual(['command']);
    const remote = variants.filter((v) => v.properties.url);
    expect(remote).toHaveLength(2);
    for (const variant of remote) {
      expect(variant.required).toEqual(['url']);
      expect(Object.keys(variant.properties)).toEqual(
        expect.arrayContaining(['transport', 'url', 'headers', 'timeoutMs', 'prefix']),
      );
    }
  });

  it('accepts the complete example of docs/configuration.md, which also loads', async () => {
    const example = docsExample();
    expect(validate(parse(example)), JSON.stringify(validate.errors)).toBe(true);
    const dir = await mkdtemp(join(tmpdir(), 'mcp-bridge-schema-'));
    try {
      await writeFile(join(dir, 'bridge.yaml'), example);
      const config = loadConfig({ file: 'bridge.yaml', cwd: dir, env: {} });
      expect(Object.keys(config.backends)).toEqual(['everything', 'memory', 'files']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['a command only', { a: { command: 'x' } }],
    ['an http URL only', { a: { url: 'https://example.com/mcp' } }],
    ['a ws URL only', { a: { url: 'ws://127.0.0.1:9000/ws' } }],
    ['an explicit transport', { a: { transport: 'sse', url: 'http://h/sse' } }],
  ])('accepts a backend with %s', (_what, backends) => {
    expect(validate({ backends }), JSON.stringify(validate.errors)).toBe(true);
  });

  it.each([
    ['no backend', {}],
    ['neither command nor URL', { a: { args: [] } }],
    ['an unknown key', { a: { command: 'x', comand: 'y' } }],
    ['a command of the wrong type', { a: { command: 5 } }],
    ['websocket with an http URL', { a: { transport: 'websocket', url: 'http://h/' } }],
    ['a bad name', { 'my backend': { command: 'x' } }],
  ])('refuses %s', (_what, backends) => {
    expect(validate({ backends })).toBe(false);
  });

  it('refuses a port of the wrong type and unknown top-level keys', () => {
    const backends = { a: { command: 'x' } };
    expect(validate({ backends, server: { port: '80' } })).toBe(false);
    expect(validate({ backends, backend: {} })).toBe(false);
  });
});
