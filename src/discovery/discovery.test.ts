import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Balancer } from '../backends/balancer.js';
import { createLogger } from '../core/logger.js';
import { startDiscovery } from './discovery.js';
import { discoverySchema } from './schema.js';
import { lookupOf, parseList } from './sources.js';

const log = createLogger({ level: 'silent' });
const parse = (input: unknown) => discoverySchema.parse(input);
const servers: Array<{ close(): void }> = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/**
 * A stand-in for the Kubernetes API or Consul (neither runs here): a real HTTP server on port 0
 * answering the one path each source asks for, recording what it was asked.
 */
async function fakeApi(answer: (url: string, headers: Record<string, unknown>) => unknown) {
  const seen: Array<{ url: string; headers: Record<string, unknown> }> = [];
  const server = createServer((req, res) => {
    seen.push({ url: req.url!, headers: req.headers });
    const body = answer(req.url!, req.headers);
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body ?? {}));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

describe('discovery sources', () => {
  it('static: the URLs as given', async () => {
    const found = await lookupOf(
      parse({ type: 'static', urls: ['http://a:1/mcp', 'http://b:2/mcp'] }),
    )();
    expect(found).toEqual([
      { url: 'http://a:1/mcp', weight: 1 },
      { url: 'http://b:2/mcp', weight: 1 },
    ]);
  });

  it('file: one URL a line with an optional weight, or a JSON array', () => {
    expect(parseList('# replicas\nhttp://a:1/mcp 3\n\nhttp://b:2/mcp\n')).toEqual([
      { url: 'http://a:1/mcp', weight: 3 },
      { url: 'http://b:2/mcp', weight: 1 },
    ]);
    expect(parseList('["http://a:1/mcp", {"url": "http://b:2/mcp", "weight": 5}]')).toEqual([
      { url: 'http://a:1/mcp', weight: 1 },
      { url: 'http://b:2/mcp', weight: 5 },
    ]);
    expect(() => parseList('not a url')).toThrow();
  });

  it('dns SRV: the lowest priority, with its weights; A/AAAA need a port', async () => {
    const resolver = {
      resolveSrv: async () => [
        { name: 'r1.svc', port: 8080, priority: 10, weight: 5 },
        { name: 'r2.svc', port: 8081, priority: 10, weight: 0 },
        { name: 'backup.svc', port: 8080, priority: 20, weight: 1 },
      ],
      resolve4: async () => ['10.0.0.1', '10.0.0.2'],
      resolve6: async () => ['fd00::1'],
    };
    const srv = await lookupOf(parse({ type: 'dns', name: '_mcp._tcp.svc' }), {
      resolver: resolver as never,
    })();
    expect(srv).toEqual([
      { url: 'http://r1.svc:8080/mcp', weight: 5 },
      { url: 'http://r2.svc:8081/mcp', weight: 1 },
    ]);
    const a = await lookupOf(
      parse({ type: 'dns', name: 'svc', record: 'A', port: 9000, path: '/servers/x/mcp' }),
      {
        resolver: resolver as never,
      },
    )();
    expect(a.map((f) => f.url)).toEqual([
      'http://10.0.0.1:9000/servers/x/mcp',
      'http://10.0.0.2:9000/servers/x/mcp',
    ]);
    const aaaa = await lookupOf(parse({ type: 'dns', name: 'svc', record: 'AAAA', port: 9000 }), {
      resolver: resolver as never,
    })();
    expect(aaaa[0]!.url).toBe('http://[fd00::1]:9000/mcp');
    await expect(
      lookupOf(parse({ type: 'dns', name: 'svc', record: 'A' }), { resolver: resolver as never })(),
    ).rejects.toThrow(/port/);
  });

  it("kubernetes: ready endpoints of the service's EndpointSlices, with the service account's token", async () => {
    const api = await fakeApi((url) =>
      url.startsWith(
        '/apis/discovery.k8s.io/v1/namespaces/tools/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dmcp',
      )
        ? {
            items: [
              {
                ports: [
                  { name: 'metrics', port: 9090 },
                  { name: 'mcp', port: 8080 },
                ],
                endpoints: [
                  { addresses: ['10.1.0.5'], conditions: { ready: true } },
                  { addresses: ['10.1.0.6'], conditions: { ready: false } },
                  { addresses: ['10.1.0.7'], conditions: { ready: true, terminating: true } },
                  { addresses: ['10.1.0.8'] },
                ],
              },
            ],
          }
        : undefined,
    );
    const files: Record<string, string> = {
      '/var/run/secrets/kubernetes.io/serviceaccount/token': 'tok\n',
      '/var/run/secrets/kubernetes.io/serviceaccount/namespace': 'tools',
    };
    const found = await lookupOf(
      parse({ type: 'kubernetes', service: 'mcp', portName: 'mcp', apiUrl: api.url }),
      {
        readFile: async (p) => files[p] ?? Promise.reject(new Error('no file')),
      },
    )();
    expect(found.map((f) => f.url)).toEqual([
      'http://10.1.0.5:8080/mcp',
      'http://10.1.0.8:8080/mcp',
    ]);
    expect(api.seen[0]!.headers.authorization).toBe('Bearer tok');
  });

  it("consul: passing instances, by tag, with the token; the service address before the node's", async () => {
    const api = await fakeApi((url) =>
      url === '/v1/health/service/mcp?passing=true&tag=blue'
        ? [
            { Node: { Address: '10.2.0.1' }, Service: { Address: '', Port: 8080 } },
            {
              Node: { Address: '10.2.0.2' },
              Service: { Address: '10.9.9.9', Port: 8081, Weights: { Passing: 3 } },
            },
          ]
        : undefined,
    );
    const found = await lookupOf(
      parse({ type: 'consul', service: 'mcp', tag: 'blue', token: 't0k', address: api.url }),
    )();
    expect(found).toEqual([
      { url: 'http://10.2.0.1:8080/mcp', weight: 1 },
      { url: 'http://10.9.9.9:8081/mcp', weight: 3 },
    ]);
    expect(api.seen[0]!.headers['x-consul-token']).toBe('t0k');
    await expect(
      lookupOf(parse({ type: 'consul', service: 'other', address: api.url }))(),
    ).rejects.toThrow(/404/);
  });
});

describe('startDiscovery', () => {
  it('follows a watched file, and keeps the last list when the file goes bad', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'discovery-'));
    const file = join(dir, 'replicas.txt');
    await writeFile(file, 'http://a:1/mcp\n');
    const lists: string[][] = [];
    const discovery = startDiscovery(
      parse({ type: 'file', path: file, intervalMs: 100_000 }),
      (found) => lists.push(found.map((f) => f.url)),
      log,
    );
    try {
      await discovery.refresh();
      await writeFile(file, 'http://a:1/mcp\nhttp://b:2/mcp\n');
      await discovery.refresh();
      await writeFile(file, 'garbage');
      await discovery.refresh();
      await writeFile(file, '');
      await discovery.refresh();
      expect(lists).toEqual([['http://a:1/mcp'], ['http://a:1/mcp', 'http://b:2/mcp']]);
    } finally {
      discovery.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('feeds the balancer: kept replicas keep their counts, new ones join, gone ones take no session', () => {
    const balancer = new Balancer(
      [
        { url: 'http://a/mcp', weight: 1 },
        { url: 'http://b/mcp', weight: 1 },
      ],
      'least-connections',
    );
    balancer.replicas[0]!.active = 4;
    balancer.update([
      { url: 'http://a/mcp', weight: 2 },
      { url: 'http://c/mcp', weight: 1 },
    ]);
    expect(balancer.replicas.map((r) => [r.url, r.active, r.weight])).toEqual([
      ['http://a/mcp', 4, 2],
      ['http://c/mcp', 0, 1],
    ]);
    expect(balancer.pick().url).toBe('http://c/mcp');
    balancer.update([]);
    expect(balancer.replicas).toHaveLength(2);
  });
});
