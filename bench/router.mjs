#!/usr/bin/env node
/*
 * What routing costs a request: the gateway's route table (find-my-way, `dist/http/`) against
 * the code it replaced (a `/servers/` regex and `===` comparisons in gateway.ts, the well-known
 * and ops prefix checks before them), for the paths the hot path sees. Both in one run; figures
 * are nanoseconds per lookup, the median of several rounds, with the ratio new/old.
 *
 *   npm run build && node bench/router.mjs [--rounds 7] [--lookups 2000000]
 */
import { parseArgs } from 'node:util';
import { parseConfig } from '../dist/config/schema.js';
import { createRouter } from '../dist/http/router.js';
import { gatewayRoutes } from '../dist/http/routes.js';

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    lookups: { type: 'string', default: '2000000' },
  },
});
const ROUNDS = Number(flags.rounds);
const LOOKUPS = Number(flags.lookups);

const config = parseConfig({
  server: { host: '127.0.0.1', port: 0 },
  backends: { github: { command: 'true' }, memory: { command: 'true' } },
});
const endpoints = new Map([
  ['github', {}],
  ['memory', {}],
]);

// ── the route table, as the gateway builds it ───────────────────────────────────────────
const table = createRouter(
  gatewayRoutes({
    config,
    guard: { wellKnown: () => true },
    root: {},
    endpointOf: (name) => endpoints.get(name),
    ops: {},
  }),
);
function routeNew(method, url) {
  const found = table.find(method, url);
  return found.kind === 'found' ? found.route : undefined;
}

// ── the code it replaced (gateway.ts `serve` and `route` before the route table) ─────────
function pathOf(url) {
  if (!url) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
function route(path) {
  const servers = /^\/servers\/([^/]+)(\/[a-z]+)$/.exec(path);
  if (servers) {
    const name = decodeURIComponent(servers[1]);
    const entry = endpoints.get(name);
    return entry ? { rest: servers[2], entry } : { rest: servers[2], unknown: name };
  }
  if (path === config.server.path) return { rest: '/mcp' };
  if (path === '/sse' || path === '/messages' || path === '/ws') return { rest: path };
  return undefined;
}
const PREFIX = '/.well-known/oauth-protected-resource';
function routeOld(method, url) {
  const path = pathOf(url);
  // guard.wellKnown ran first on every request
  if (path === '/.well-known/security.txt') return 'well-known';
  if (path === PREFIX || path.startsWith(`${PREFIX}/`)) return 'well-known';
  const target = route(path);
  if (target) return target;
  // an unknown /api/ path was authenticated, then answered 404
  const protectedOps = path === '/stats' || path.startsWith('/api/');
  return opsOld(method, path) ?? (protectedOps ? 'authenticated, then 404' : undefined);
}
// handleOps, which ran when no endpoint matched
function opsOld(method, path) {
  if (method !== 'GET' && method !== 'HEAD') return undefined;
  switch (path) {
    case '/healthz':
    case '/ready':
    case '/health':
    case '/stats':
    case '/api/v1/services':
      return 'ops';
  }
  return /^\/api\/v1\/services\/([^/]+)(\/health)?$/.exec(path) ? 'ops' : undefined;
}

// ── the run ──────────────────────────────────────────────────────────────────────────────
const CASES = [
  ['POST', '/mcp'],
  ['GET', '/mcp'],
  ['POST', '/servers/github/mcp'],
  ['POST', '/messages?sessionId=3f0c1a9e-8b1d-4c52-9a57-3d2f1c0b7e41'],
  ['GET', '/healthz'],
];

let sink = 0;
/** A fresh string per request, as a server's parser makes, not one V8 has seen a million times. */
const fresh = (url) => Array.from({ length: 4096 }, () => Buffer.from(url).toString('latin1'));
function time(fn, method, urls) {
  const mask = urls.length - 1;
  const start = process.hrtime.bigint();
  for (let i = 0; i < LOOKUPS; i++) if (fn(method, urls[i & mask]) !== undefined) sink++;
  return Number(process.hrtime.bigint() - start) / LOOKUPS;
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Both must agree on what is served before their speed means anything.
for (const [method, url] of CASES) {
  if ((routeNew(method, url) === undefined) !== (routeOld(method, url) === undefined))
    throw new Error(`the two routers disagree on ${method} ${url}`);
}

process.stdout.write(
  `routing, ns per lookup (median of ${ROUNDS} rounds × ${LOOKUPS.toLocaleString('en-US')}), Node ${process.version}\n\n` +
    '| request | old (regex, ===) | route table (find-my-way) | new/old |\n| --- | --- | --- | --- |\n',
);
for (const [method, url] of CASES) {
  const urls = fresh(url);
  const old = [];
  const now = [];
  // Interleaved, so that a busy neighbour slows both alike.
  for (let r = 0; r < ROUNDS; r++) {
    old.push(time(routeOld, method, urls));
    now.push(time(routeNew, method, urls));
  }
  const o = median(old);
  const n = median(now);
  process.stdout.write(
    `| ${method} ${url.length > 30 ? `${url.slice(0, 27)}…` : url} | ${o.toFixed(1)} | ${n.toFixed(1)} | ${(n / o).toFixed(2)}× |\n`,
  );
}
if (sink === 0) process.stdout.write('(nothing matched)\n');
