import { describe, expect, it } from 'vitest';
import { describeInvalidMessage } from './jsonrpc.js';

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
