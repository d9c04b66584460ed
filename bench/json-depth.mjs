#!/usr/bin/env node
/*
 * What the nesting-depth check (limits.maxDepth) adds to reading a client's message: the time
 * of `nestsDeeperThan` on its own and beside the JSON.parse that follows it anyway, for message
 * shapes from a ping to 1 MiB of arguments. Needs the build (`npm run build`).
 *
 *   node bench/json-depth.mjs
 */
import { nestsDeeperThan } from '../dist/core/json-depth.js';

const call = (args) =>
  JSON.stringify({
    jsonrpc: '2.0',
    id: 7,
    method: 'tools/call',
    params: { name: 'echo', arguments: args },
  });

const shapes = {
  ping: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
  'tools/call, small': call({ message: 'hello world', count: 3 }),
  'tools/call, 600 B': call({
    path: '/home/user/projects/report.md',
    options: { encoding: 'utf8', lines: [1, 200], follow: true },
    query: 'SELECT name, total FROM orders WHERE total > 100 ORDER BY total DESC LIMIT 20',
    tags: ['alpha', 'beta', 'gamma'],
    note: 'x'.repeat(300),
  }),
  'tools/call, 4 KiB of fields': call(
    Object.fromEntries(Array.from({ length: 120 }, (_, i) => [`field${i}`, { v: i, s: 'abc' }])),
  ),
  '1 MiB string': call({ text: 'x'.repeat(1 << 20) }),
  '1 MiB of small objects': call(
    Array.from({ length: 40_000 }, (_, i) => ({ i, tag: 'ab', list: [1, 2] })),
  ),
};

/** Nanoseconds per call of `fn`, over at least 200 ms. */
function time(fn) {
  let runs = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0n;
  while (elapsed < 200_000_000n) {
    for (let i = 0; i < 16; i++) fn();
    runs += 16;
    elapsed = process.hrtime.bigint() - start;
  }
  return Number(elapsed) / runs;
}

let sink = 0;
const rows = [];
for (const [name, text] of Object.entries(shapes)) {
  // Warm both paths first, so that neither is measured unoptimized.
  for (let i = 0; i < 200; i++) sink += nestsDeeperThan(text, 128) ? 1 : JSON.parse(text).id;
  const check = time(() => (sink += nestsDeeperThan(text, 128) ? 1 : 0));
  const parse = time(() => (sink += JSON.parse(text).id));
  rows.push({
    message: name,
    bytes: text.length,
    'check ns': Math.round(check),
    'JSON.parse ns': Math.round(parse),
    'check / parse': (check / parse).toFixed(3),
  });
}
console.table(rows);
if (sink === -1) console.log(sink);
