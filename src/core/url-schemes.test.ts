import { describe, expect, it } from 'vitest';
import { schemeFamily } from './url-schemes.js';

describe('schemeFamily', () => {
  it('tells each family from a string or a URL, whatever the case', () => {
    expect(schemeFamily('HTTPS://gw.example/mcp')).toBe('http');
    expect(schemeFamily(new URL('wss://gw.example/ws'))).toBe('websocket');
    expect(schemeFamily('tcps://gw.example:8444')).toBe('tcp');
  });

  it('has no family for any other scheme, or for no scheme', () => {
    expect(schemeFamily('ftp://files.example')).toBeUndefined();
    expect(schemeFamily('gw.example/mcp')).toBeUndefined();
  });
});
