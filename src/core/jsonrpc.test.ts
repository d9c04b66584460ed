import { describe, expect, it } from 'vitest';
import { checkClientMessage, describeInvalidMessage } from './jsonrpc.js';

describe('describeInvalidMessage', () => {
  it.each([
    [{ jsonrpc: '2.0', id: 1, method: 'ping' }],
    [{ jsonrpc: '2.0', method: 'notifications/initialized' }],
    [{ jsonrpc: '2.0', id: 'a', result: {} }],
    [{ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } }],
  ])('accepts %j', (message) => expect(describeInvalidMessage(message)).toBeUndefined());

  it.each([
    [[], 'must be a JSON object'],
    ['ping', 'must be a JSON object'],
    [{ id: 1, method: 'ping' }, '"jsonrpc" member must be exactly "2.0"'],
    [{ jsonrpc: '2.0', id: 1, method: 7 }, '"method" member must be a non-empty string'],
    [{ jsonrpc: '2.0', id: true, method: 'ping' }, '"id" member must be a string or a number'],
    [{ jsonrpc: '2.0', id: 1, method: 'ping', params: 'x' }, '"params" member must be an object'],
    [{ jsonrpc: '2.0', result: {} }, 'needs a "method"'],
    [{ jsonrpc: '2.0', id: 1, result: {}, error: { code: 1, message: 'x' } }, 'exactly one of'],
    [{ jsonrpc: '2.0', id: 1, error: { message: 'x' } }, 'numeric "code"'],
  ])('rejects %j', (message, why) => expect(describeInvalidMessage(message)).toContain(why));
});

describe('checkClientMessage: what a backend would drop silently is refused', () => {
  it.each([
    [{ jsonrpc: '2.0', id: 1, method: 'ping', params: {} }],
    [{ jsonrpc: '2.0', id: 1, method: 'ping', params: { _meta: {} } }],
    [{ jsonrpc: '2.0', id: 1, method: 'ping', params: { _meta: { progressToken: 'p' } } }],
    [{ jsonrpc: '2.0', id: 1, method: 'ping', params: { _meta: { progressToken: 7 } } }],
    [{ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 1 } }],
  ])('accepts %j', (message) => expect(checkClientMessage(message)).toBeUndefined());

  it.each([
    [{ jsonrpc: '2.0', id: 1, method: 'ping', params: [] }, '"params" member', true],
    [{ jsonrpc: '2.0', id: 1, method: 'ping', params: null }, '"params" member', true],
    [{ jsonrpc: '2.0', id: 1, method: 'ping', result: {} }, '"result" or "error"', false],
    [
      { jsonrpc: '2.0', id: 1, method: 'ping', error: { code: 1, message: 'x' } },
      '"result" or "error"',
      false,
    ],
    [{ jsonrpc: '2.0', id: 1, method: 'ping', params: { _meta: [] } }, '"params._meta"', true],
    [{ jsonrpc: '2.0', id: 2 ** 53, method: 'ping' }, 'string or a safe integer', false],
    [{ jsonrpc: '2.0', id: 1.5, method: 'ping' }, 'string or a safe integer', false],
    [{ jsonrpc: '2.0', id: 1e29, result: {} }, 'string or a safe integer', false],
    [{ jsonrpc: '2.0', id: 1, method: 'ping', params: { _meta: null } }, '"params._meta"', true],
    [
      { jsonrpc: '2.0', id: 1, method: 'ping', params: { _meta: { progressToken: 2 ** 53 + 2 } } },
      'progressToken',
      true,
    ],
    [
      { jsonrpc: '2.0', id: 1, method: 'ping', params: { _meta: { progressToken: 0.5 } } },
      'progressToken',
      true,
    ],
    [
      { jsonrpc: '2.0', id: 1, method: 'ping', params: { _meta: { progressToken: true } } },
      'progressToken',
      true,
    ],
  ])('refuses %j', (message, why, params) =>
    expect(checkClientMessage(message)).toEqual({ problem: expect.stringContaining(why), params }),
  );

  it('holds what backends send to the same shape (array params)', () => {
    expect(describeInvalidMessage({ jsonrpc: '2.0', id: 1, method: 'x', params: [] })).toContain(
      '"params"',
    );
  });
});
