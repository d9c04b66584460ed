import { describe, expect, it } from 'vitest';
import { GatewayError } from '../core/errors.js';
import { checkArguments, validatorFor } from './tool-validation.js';

function problem(fn: () => void): { message: string; field: unknown } {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError);
    const e = error as GatewayError;
    expect(e.code).toBe('GATEWAY_INVALID_REQUEST');
    return { message: e.message, field: e.data?.field };
  }
  throw new Error('expected the arguments to be refused');
}

describe('tool argument validation', () => {
  const schema = {
    type: 'object',
    properties: {
      query: { type: 'string' },
      limit: { type: 'integer', minimum: 1 },
      tags: { type: 'array', items: { type: 'string' } },
      email: { type: 'string', format: 'email' },
    },
    required: ['query'],
    additionalProperties: false,
  };

  it('names the field that is wrong, under the body member that carries the arguments', () => {
    const validate = validatorFor('b', 'search', schema);
    expect(() => checkArguments(validate, { query: 'x' }, 'search', 'params')).not.toThrow();
    expect(problem(() => checkArguments(validate, {}, 'search', 'params')).field).toBe(
      'params.query',
    );
    expect(problem(() => checkArguments(validate, { query: 1 }, 'search', 'arguments')).field).toBe(
      'arguments.query',
    );
    const nested = problem(() =>
      checkArguments(validate, { query: 'x', tags: ['a', 2] }, 'search', 'body'),
    );
    expect(nested.field).toBe('body.tags[1]');
    expect(nested.message).toContain('tool "search"');
    expect(
      problem(() => checkArguments(validate, { query: 'x', extra: 1 }, 'search', 'body')).field,
    ).toBe('body.extra');
    expect(
      problem(() => checkArguments(validate, { query: 'x', email: 'nope' }, 'search', 'body'))
        .message,
    ).toContain('format');
  });

  it('reads draft-07 and 2020-12 schemas, and compiles again only when a schema changes', () => {
    const draft07 = { ...schema, $schema: 'http://json-schema.org/draft-07/schema#' };
    const a = validatorFor('b', 'same', draft07);
    expect(validatorFor('b', 'same', { ...draft07 })).toBe(a);
    const changed = validatorFor('b', 'same', { ...draft07, required: [] });
    expect(changed).not.toBe(a);
    expect(() => checkArguments(changed, {}, 'same', 'params')).not.toThrow();
    const v2020 = validatorFor('b', 'prefix', {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'array',
      prefixItems: [{ type: 'number' }],
    });
    expect(problem(() => checkArguments(v2020, ['x'], 'prefix', 'params')).field).toBe('params[0]');
  });

  it('lets the backend judge a schema that does not compile', () => {
    const broken = validatorFor('b', 'broken', {
      type: 'object',
      properties: { a: { $ref: '#/nope' } },
    });
    expect(broken).toBeUndefined();
    expect(() => checkArguments(broken, { a: 1 }, 'broken', 'params')).not.toThrow();
  });
});
