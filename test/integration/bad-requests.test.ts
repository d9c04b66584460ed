import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ACCEPT_JSON_AND_SSE as ACCEPT,
  everythingStdio,
  initializeRequest,
  startGateway,
} from '../helpers.js';
import type { RunningGateway } from '../helpers.js';
import { JsonLines, connectUnix, openRawSse } from '../frontend-helpers.js';
import type { JsonRpcReply, RawSse, UnixClient } from '../frontend-helpers.js';
import { RawClient, wsUrl } from '../websocket-helpers.js';

/*
 * Requests a backend's SDK would drop without a word (so the client waited for its deadline) are
 * refused by the gateway at once, on every frontend, with the JSON-RPC error that names the
 * member at fault and the request's id when it can be read back exactly.
 */

interface Case {
  name: string;
  /** The raw JSON text sent (raw, so that a number is written as the client wrote it). */
  text: string;
  rpc: number;
  /** The id the error must carry. */
  id: string | number | null;
  names: string;
  /** Refused before it is parsed: no id can be read, not even an envelope's. */
  unparsed?: boolean;
}

const DEEP = 100_000;

const cases: Case[] = [
  {
    name: 'array params',
    text: '{"jsonrpc":"2.0","id":11,"method":"tools/list","params":[]}',
    rpc: -32602,
    id: 11,
    names: '"params"',
  },
  {
    name: 'a request that also carries result',
    text: '{"jsonrpc":"2.0","id":12,"method":"ping","result":{}}',
    rpc: -32600,
    id: 12,
    names: '"result"',
  },
  {
    name: 'a request that also carries error',
    text: '{"jsonrpc":"2.0","id":"e13","method":"ping","error":{"code":1,"message":"x"}}',
    rpc: -32600,
    id: 'e13',
    names: '"error"',
  },
  {
    name: '_meta that is an array',
    text: '{"jsonrpc":"2.0","id":14,"method":"ping","params":{"_meta":[]}}',
    rpc: -32602,
    id: 14,
    names: 'params._meta',
  },
  {
    name: 'a progressToken above 2^53',
    text: '{"jsonrpc":"2.0","id":15,"method":"tools/list","params":{"_meta":{"progressToken":9007199254740993}}}',
    rpc: -32602,
    id: 15,
    names: 'params._meta.progressToken',
  },
  {
    // It used to come back as 1.2345678901234568e+29.
    name: 'a big integer id, which came back changed,',
    text: '{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"ping"}',
    rpc: -32600,
    id: null,
    names: '"id" member must be a string or a safe integer',
  },
  {
    name: 'a fractional id',
    text: '{"jsonrpc":"2.0","id":1.25,"method":"ping"}',
    rpc: -32600,
    id: null,
    names: '"id" member must be a string or a safe integer',
  },
  {
    name: 'a fractional progressToken',
    text: '{"jsonrpc":"2.0","id":16,"method":"tools/list","params":{"_meta":{"progressToken":1.5}}}',
    rpc: -32602,
    id: 16,
    names: 'params._meta.progressToken',
  },
  {
    name: 'a progressToken that is neither string nor number',
    text: '{"jsonrpc":"2.0","id":17,"method":"tools/list","params":{"_meta":{"progressToken":{}}}}',
    rpc: -32602,
    id: 17,
    names: 'params._meta.progressToken',
  },
  {
    name: `nesting ${DEEP} deep, which overflowed the stack on the way to the backend,`,
    text: `{"jsonrpc":"2.0","id":21,"method":"tools/call","params":{"name":"echo","arguments":{"message":${'['.repeat(DEEP)}${']'.repeat(DEEP)}}}}`,
    rpc: -32600,
    id: null,
    names: 'more than 128 deep (limits.maxDepth)',
    unparsed: true,
  },
];

/** One frontend: sends a raw JSON text and resolves with the error reply it got. */
interface Frontend {
  send(text: string): Promise<JsonRpcReply>;
  /** The id of the envelope the last error came in, and the one it must be. */
  envelopeIds?: () => { got: unknown; sent: string };
}

const frontends: Record<string, Frontend> = {};
let gw: RunningGateway;
let dir: string;
const cleanup: Array<() => unknown> = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-bridge-bad-'));
  const unixSocket = join(dir, 'gw.sock');
  gw = await startGateway(everythingStdio, {
    server: { host: '127.0.0.1', port: 0, path: '/mcp', unixSocket },
  });

  const opened = await fetch(gw.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: ACCEPT },
    body: JSON.stringify(initializeRequest()),
  });
  await opened.text();
  const session = opened.headers.get('mcp-session-id')!;
  frontends['Streamable HTTP'] = {
    async send(text) {
      const res = await fetch(gw.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: ACCEPT, 'mcp-session-id': session },
        body: text,
      });
      expect(res.status).toBe(400);
      return (await res.json()) as JsonRpcReply;
    },
  };

  const sse: RawSse = await openRawSse(new URL('/sse', gw.url));
  cleanup.push(() => sse.close());
  const endpoint = new URL(
    (await sse.next((e) => e.event === 'endpoint', 'the endpoint event')).data,
    gw.url,
  );
  frontends['legacy SSE /messages'] = {
    async send(text) {
      const res = await fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: text,
      });
      expect(res.status).toBe(400);
      return (await res.json()) as JsonRpcReply;
    },
  };

  const plain = await RawClient.open(wsUrl(gw.url));
  cleanup.push(() => plain.close());
  frontends['WebSocket'] = {
    async send(text) {
      plain.socket.send(text);
      return (await plain.next((f) => 'error' in f)) as JsonRpcReply;
    },
  };

  const envelope = await RawClient.open(wsUrl(gw.url));
  cleanup.push(() => envelope.close());
  let n = 0;
  // A first good message fixes the connection's dialect, whichever case runs first.
  envelope.socket.send(
    '{"id":"env-0","source":"test","mcp_payload":{"jsonrpc":"2.0","id":"p0","method":"ping"}}',
  );
  await envelope.next((f) => f.mcp_payload?.id === 'p0');
  let lastEnvelopeId: unknown;
  frontends['WebSocket envelope'] = {
    async send(text) {
      envelope.socket.send(`{"id":"env-${++n}","source":"test","mcp_payload":${text}}`);
      const frame = await envelope.next((f) => f.mcp_payload && 'error' in f.mcp_payload);
      expect(frame.source).toBe('gateway');
      lastEnvelopeId = frame.id;
      return frame.mcp_payload as JsonRpcReply;
    },
    envelopeIds: () => ({ got: lastEnvelopeId, sent: `env-${n}` }),
  };

  const unix: UnixClient = await connectUnix(unixSocket);
  cleanup.push(() => unix.close());
  frontends['Unix socket'] = {
    async send(text) {
      unix.socket.write(text + '\n');
      return unix.lines.next((m) => 'error' in m, 'an error line');
    },
  };

  const toGateway = new PassThrough();
  const fromGateway = new PassThrough();
  const lines = new JsonLines(fromGateway);
  await gw.gateway.serveStdio(toGateway, fromGateway);
  cleanup.push(() => toGateway.end());
  frontends['--serve stdio'] = {
    async send(text) {
      toGateway.write(text + '\n');
      return lines.next((m) => 'error' in m, 'an error line');
    },
  };
});

afterAll(async () => {
  for (const step of cleanup.reverse()) await Promise.resolve(step()).catch(() => {});
  await gw?.close();
  rmSync(dir, { recursive: true, force: true });
});

const names = [
  'Streamable HTTP',
  'legacy SSE /messages',
  'WebSocket',
  'WebSocket envelope',
  'Unix socket',
  '--serve stdio',
];

describe.each(names)('requests that never got an answer, on %s', (frontend) => {
  it.each(cases)('$name gets an immediate error naming the field', async (c) => {
    const { send, envelopeIds } = frontends[frontend]!;
    const reply = await send(c.text);
    expect(reply.error?.code).toBe(c.rpc);
    expect(reply.error?.message).toContain(c.names);
    // The message's own id, or null: never the envelope's, which the client did not send as one.
    expect(reply.id).toBe(c.id ?? null);
    // The refusal's envelope names the refused envelope, when that could be read.
    if (envelopeIds) {
      const { got, sent } = envelopeIds();
      expect(got).toBe(c.unparsed ? null : sent);
    }
  });
});
