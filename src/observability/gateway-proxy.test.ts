import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { allowed, gatewayPath, reachable } from './gateway-proxy.js';

const target = { host: '127.0.0.1', port: 1, mcpPath: '/rpc' };
const req = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;

describe('the admin proxy to the gateway', () => {
  it('passes MCP endpoint paths only', () => {
    expect(gatewayPath('/gateway/rpc', target)).toBe('/rpc');
    expect(gatewayPath('/gateway/ws', target)).toBe('/ws');
    expect(gatewayPath('/gateway/servers/my.backend-1/messages', target)).toBe(
      '/servers/my.backend-1/messages',
    );
    for (const path of ['/gateway/health', '/gateway/stats', '/gateway/servers/x/../../x', '/rpc'])
      expect(gatewayPath(path, target)).toBeUndefined();
  });

  it('reaches a wildcard-bound gateway on loopback', () => {
    expect(reachable('0.0.0.0')).toBe('127.0.0.1');
    expect(reachable('::')).toBe('::1');
    expect(reachable('10.1.2.3')).toBe('10.1.2.3');
  });

  it('refuses rebinding hosts and foreign origins on a loopback listener', () => {
    expect(allowed(req({ host: '127.0.0.1:9090' }), true)).toBe(true);
    expect(allowed(req({ host: 'localhost:9090' }), true)).toBe(true);
    expect(allowed(req({ host: '[::1]:9090' }), true)).toBe(true);
    expect(allowed(req({ host: 'attacker.example:9090' }), true)).toBe(false);
    expect(allowed(req({ host: 'gateway.internal:9090' }), false)).toBe(true);
    expect(allowed(req({ host: '127.0.0.1:9090', origin: 'http://127.0.0.1:9090' }), true)).toBe(
      true,
    );
    expect(allowed(req({ host: '127.0.0.1:9090', origin: 'https://evil.example' }), true)).toBe(
      false,
    );
  });
});
