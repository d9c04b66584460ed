#!/usr/bin/env node
/*
 * Records the valid traffic the fuzzer mutates: the official SDK client runs a few ordinary
 * sessions through a real gateway (the echo fixture and server-everything behind it), and every
 * message the client sent is written to fuzz/corpus/recorded.json. Run again after a protocol
 * change: `node fuzz/record.mjs`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { fuzzConfig, startGateway } from './lib/gateway.mjs';

/** A transport that keeps a copy of every message the client sends. */
function recording(transport, messages) {
  const send = transport.send.bind(transport);
  transport.send = (message, options) => {
    messages.push(structuredClone(message));
    return send(message, options);
  };
  return transport;
}

const dir = mkdtempSync(join(tmpdir(), 'mcp-bridge-record-'));
const gateway = await startGateway({
  dir,
  config: fuzzConfig({ maxBytes: 1 << 20, backendTimeoutMs: 10_000 }),
});
const sessions = [];
try {
  const plans = [
    {
      path: '/servers/echo/mcp',
      tools: [
        ['echo', { text: 'hello' }],
        ['add', { a: 2, b: 3 }],
        ['bytes', { n: 16 }],
      ],
    },
    {
      path: '/servers/everything/mcp',
      tools: [
        ['echo', { message: 'hello' }],
        ['get-sum', { a: 1, b: 2 }],
      ],
    },
    {
      path: '/mcp',
      tools: [
        ['echo__echo', { text: 'hi' }],
        ['everything__get-sum', { a: 4, b: 5 }],
      ],
    },
  ];
  for (const plan of plans) {
    const messages = [];
    const client = new Client(
      { name: 'fuzz-recorder', version: '1.0.0' },
      { capabilities: { roots: { listChanged: true } } },
    );
    await client.connect(
      recording(new StreamableHTTPClientTransport(new URL(gateway.base + plan.path)), messages),
    );
    await client.listTools();
    await client.listTools({ cursor: 'next' }).catch(() => undefined);
    for (const [name, args] of plan.tools) await client.callTool({ name, arguments: args });
    await client.ping();
    await client.setLoggingLevel('info').catch(() => undefined);
    await client.listResources().catch(() => undefined);
    await client.listPrompts().catch(() => undefined);
    await client.notification({ method: 'notifications/roots/list_changed' });
    await client.notification({
      method: 'notifications/cancelled',
      params: { requestId: 999, reason: 'fuzz' },
    });
    await client.close();
    sessions.push({ path: plan.path, messages });
  }
} finally {
  await gateway.close();
  rmSync(dir, { recursive: true, force: true });
}
// A reply to a server's request and a batch, which the SDK client does not send on its own here.
sessions.push({
  path: '(hand-written)',
  messages: [
    { jsonrpc: '2.0', id: 'srv-1', result: { roots: [] } },
    { jsonrpc: '2.0', id: 'srv-2', error: { code: -32601, message: 'no sampling here' } },
  ],
});
const out = new URL('./corpus/recorded.json', import.meta.url);
writeFileSync(out, `${JSON.stringify({ recordedWith: 'fuzz/record.mjs', sessions }, null, 2)}\n`);
console.log(
  `recorded ${sessions.reduce((n, s) => n + s.messages.length, 0)} messages to ${out.pathname}`,
);
