import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/schema.js';
import { channels } from '../core/diagnostics.js';
import { RouteBook, methodLabel } from './mcp-names.js';

const stdio = { command: 'x' };

describe('RouteBook', () => {
  it('finds the backend of an aggregated tool or prompt by its prefix, longest first', () => {
    const book = new RouteBook(
      parseConfig({ backends: { git: stdio, github: stdio, docs: { ...stdio, prefix: 'd' } } }),
    );
    book.subscribe();
    try {
      channels.sessionOpen.publish({ sessionId: 'a', transport: 'websocket', backend: '*' });
      channels.sessionOpen.publish({ sessionId: 'b', transport: 'sse', backend: 'docs' });
      const call = (name: string) => ({
        jsonrpc: '2.0' as const,
        id: 1,
        method: 'tools/call',
        params: { name },
      });
      expect(book.backendFor('a', call('github__search'))).toBe('github');
      expect(book.backendFor('a', call('git__log'))).toBe('git');
      expect(book.backendFor('a', call('d__read'))).toBe('docs');
      expect(book.backendFor('a', call('nobody__x'))).toBe('*');
      expect(book.backendFor('b', call('anything'))).toBe('docs');
      expect(book.sessionBackend('unseen')).toBe('unknown');
      channels.sessionClose.publish({ sessionId: 'b', transport: 'sse', reason: 'x' });
      expect(book.sessionBackend('b')).toBe('unknown');
    } finally {
      book.unsubscribe();
    }
  });

  it('gives every session the only backend there is', () => {
    expect(new RouteBook(parseConfig({ backends: { one: stdio } })).sessionBackend('x')).toBe(
      'one',
    );
  });

  it('labels methods outside the specification as other', () => {
    expect(methodLabel('tools/call')).toBe('tools/call');
    expect(methodLabel('x/'.repeat(50))).toBe('other');
  });
});
