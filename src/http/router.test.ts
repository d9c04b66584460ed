import { describe, expect, it } from 'vitest';
import type { RouteBase } from './router.js';
import { createRouter, literal, pathOf, queryOf } from './router.js';

interface TestRoute extends RouteBase {
  name: string;
}

const ws = () => {};
const routes: TestRoute[] = [
  { name: 'mcp', path: '/mcp', methods: ['GET', 'POST', 'DELETE'] },
  { name: 'sse', path: '/sse', methods: ['GET'] },
  { name: 'ws', path: '/ws', methods: [], upgrade: ws },
  { name: 'backend-mcp', path: '/servers/:name/mcp', methods: ['GET', 'POST', 'DELETE'] },
  { name: 'backend-ws', path: '/servers/:name/ws', methods: [], upgrade: ws },
  { name: 'healthz', path: '/healthz', methods: ['GET', 'HEAD'] },
  { name: 'assets', path: '/dashboard/*', methods: ['GET', 'HEAD'] },
  { name: 'proxy', path: '/gateway/*', methods: '*', upgrade: ws },
];
const router = createRouter(routes);

describe('the route table', () => {
  it('finds a route by method and path, with its parameters, whatever the query', () => {
    const hit = router.find('POST', '/servers/github/mcp?x=1');
    expect(hit).toMatchObject({ kind: 'found', route: { name: 'backend-mcp' } });
    expect(hit.kind === 'found' && hit.params.name).toBe('github');
    expect(router.find('GET', '/dashboard/app.js')).toMatchObject({
      route: { name: 'assets' },
      params: { '*': 'app.js' },
    });
    expect(router.find('PUT', '/gateway/mcp')).toMatchObject({ route: { name: 'proxy' } });
  });

  it('answers a known path with another method with the methods it takes', () => {
    expect(router.find('PUT', '/mcp')).toEqual({ kind: 'method', allow: 'GET, POST, DELETE' });
    expect(router.find('POST', '/healthz')).toEqual({ kind: 'method', allow: 'GET, HEAD' });
    expect(router.find('PATCH', '/servers/x/mcp?y')).toEqual({
      kind: 'method',
      allow: 'GET, POST, DELETE',
    });
  });

  it('knows no unknown path, nor a path that only takes upgrades, nor near misses', () => {
    for (const path of ['/nope', '/mcp/', '/MCP', '/ws', '/servers/x/foo', '/servers/x/mcp/y']) {
      expect(router.find('GET', path), path).toEqual({ kind: 'none' });
    }
  });

  it('finds upgrades only where a route takes them', () => {
    expect(router.findUpgrade('/ws?token=1')?.route.name).toBe('ws');
    expect(router.findUpgrade('/servers/a.b_c-d/ws')?.params.name).toBe('a.b_c-d');
    expect(router.findUpgrade('/gateway/servers/x/ws')?.route.name).toBe('proxy');
    expect(router.findUpgrade('/mcp')).toBeUndefined();
    expect(router.findUpgrade('/nope')).toBeUndefined();
  });

  it('lets an earlier route win a path two routes declare, and takes a configured path literally', () => {
    const shadowed = createRouter<TestRoute>([
      { name: 'configured', path: literal('/sse'), methods: ['GET', 'POST'] },
      { name: 'sse', path: '/sse', methods: ['GET'] },
      { name: 'colon', path: literal('/mcp:v1'), methods: ['POST'] },
    ]);
    expect(shadowed.find('GET', '/sse')).toMatchObject({ route: { name: 'configured' } });
    expect(shadowed.find('POST', '/mcp:v1')).toMatchObject({ route: { name: 'colon' } });
    expect(shadowed.find('POST', '/mcpxv1')).toEqual({ kind: 'none' });
  });

  it('finds a backend name longer than find-my-way allows by default', () => {
    const name = 'b'.repeat(300);
    expect(router.find('POST', `/servers/${name}/mcp`)).toMatchObject({ params: { name } });
  });

  it('splits a request target into path and query', () => {
    expect(pathOf('/messages?sessionId=1')).toBe('/messages');
    expect(pathOf(undefined)).toBe('/');
    expect(queryOf('/messages?sessionId=1')).toBe('?sessionId=1');
    expect(queryOf('/mcp')).toBe('');
  });
});
