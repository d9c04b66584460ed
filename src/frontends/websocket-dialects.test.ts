import { describe, expect, it } from 'vitest';
import { decode } from './websocket-dialects.js';

/* Seed 000's `tools/<name>` requests in the control dialect, and only there. */

const request = (method: string, params?: Record<string, unknown>) => ({
  jsonrpc: '2.0',
  id: 'req-1',
  method,
  ...(params && { params }),
});

describe('seed 000 tool requests (control dialect)', () => {
  it('reads tools/<name> as tools/call of <name>, its params the arguments, the id kept', () => {
    const inbound = decode('control', request('tools/search', { query: 'test' }));
    expect(inbound).toEqual({
      kind: 'message',
      message: {
        jsonrpc: '2.0',
        id: 'req-1',
        method: 'tools/call',
        params: { name: 'search', arguments: { query: 'test' } },
      },
    });
  });

  it('keeps _meta (a progress token) beside the arguments, not in them', () => {
    const inbound = decode(
      'control',
      request('tools/search', { query: 'q', _meta: { progressToken: 7 } }),
    );
    expect(inbound).toMatchObject({
      message: {
        params: { name: 'search', arguments: { query: 'q' }, _meta: { progressToken: 7 } },
      },
    });
  });

  it('leaves tools/list and tools/call as MCP defines them', () => {
    for (const method of ['tools/list', 'tools/call']) {
      const inbound = decode('control', request(method, { name: 'x' }));
      expect(inbound).toMatchObject({ message: { method } });
    }
  });

  it('leaves a bare tools/ and a notification alone', () => {
    expect(decode('control', request('tools/'))).toMatchObject({ message: { method: 'tools/' } });
    const note = decode('control', { jsonrpc: '2.0', method: 'tools/search' });
    expect(note).toMatchObject({ message: { method: 'tools/search' } });
  });

  it('does not rewrite in the plain JSON-RPC or envelope dialects', () => {
    expect(decode('jsonrpc', request('tools/search', {}))).toMatchObject({
      message: { method: 'tools/search' },
    });
    expect(
      decode('envelope', { id: 'e', source: 'client', mcp_payload: request('tools/search', {}) }),
    ).toMatchObject({ message: { method: 'tools/search' } });
  });
});
