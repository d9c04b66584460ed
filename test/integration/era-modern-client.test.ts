import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { connectClient, startGateway } from '../helpers.js';
import type { RunningGateway } from '../helpers.js';
import { answerServerRequests } from '../cases.js';
import { connectModernClient, firstText } from '../modern-helpers.js';
import { callModern, modernBody, postModern } from '../era-helpers.js';

/*
 * A 2026-07-28 client in front of a legacy (2025) server: the v2 SDK client pinned to
 * 2026-07-28, and raw requests where the exact wire matters, over Streamable HTTP, through the
 * gateway, to @modelcontextprotocol/server-everything over stdio. The gateway plays the legacy
 * client for it and turns the server's own requests into input_required rounds.
 */

const FILESYSTEM = join(
  dirname(
    createRequire(import.meta.url).resolve('@modelcontextprotocol/server-filesystem/package.json'),
  ),
  'dist/index.js',
);

const ALL = { sampling: {}, elicitation: { form: {} }, roots: {} };

describe('modern client → gateway → legacy server-everything (Streamable HTTP)', () => {
  let gw: RunningGateway;

  beforeAll(async () => {
    gw = await startGateway();
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('server/discover answers from the backend handshake, with every era the bridge serves', async () => {
    const { status, reply } = await callModern(gw.url, 'server/discover');
    expect(status).toBe(200);
    expect(reply.result).toMatchObject({
      resultType: 'complete',
      supportedVersions: expect.arrayContaining(['2026-07-28', '2025-11-25']),
      capabilities: { tools: expect.any(Object) },
      ttlMs: 0,
      cacheScope: 'private',
      _meta: {
        'io.modelcontextprotocol/serverInfo': { name: 'mcp-servers/everything' },
      },
    });
  });

  it('lists and calls tools with the v2 client pinned to 2026-07-28', async () => {
    const { client } = await connectModernClient(gw.url.href);
    try {
      expect(client.getNegotiatedProtocolVersion()).toBe('2026-07-28');
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names).toEqual(
        expect.arrayContaining(['echo', 'trigger-sampling-request', 'get-roots-list']),
      );
      expect(firstText(await client.callTool({ name: 'echo', arguments: { message: 'hi' } }))).toBe(
        'Echo: hi',
      );
    } finally {
      await client.close();
    }
  });

  it('tools/list carries resultType and caching hints; a call carries serverInfo', async () => {
    const list = await callModern(gw.url, 'tools/list');
    expect(list.reply.result).toMatchObject({
      resultType: 'complete',
      ttlMs: 0,
      cacheScope: 'private',
    });
    const call = await callModern(gw.url, 'tools/call', {
      name: 'echo',
      arguments: { message: 'x' },
    });
    expect(call.reply.result).toMatchObject({
      resultType: 'complete',
      _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'mcp-servers/everything' } },
    });
    expect(call.reply.result).not.toHaveProperty('ttlMs');
  });

  it('trigger-sampling-request: the server’s sampling request reaches the v2 client’s handler as an input_required round', async () => {
    const { client, answers } = await connectModernClient(gw.url.href);
    try {
      const result = await client.callTool({
        name: 'trigger-sampling-request',
        arguments: { prompt: 'Say hi', maxTokens: 10 },
      });
      expect(answers.sampling).toHaveLength(1);
      expect(firstText(result)).toContain('sampled text');
    } finally {
      await client.close();
    }
  });

  it('trigger-elicitation-request (accept) and get-roots-list through the v2 client', async () => {
    const { client, answers } = await connectModernClient(gw.url.href);
    try {
      const elicited = await client.callTool({
        name: 'trigger-elicitation-request',
        arguments: {},
      });
      expect(answers.elicitation).toHaveLength(1);
      expect(JSON.stringify(elicited.content)).toContain('answer-1');
      const roots = await client.callTool({ name: 'get-roots-list', arguments: {} });
      // The roots come from a v2 client's handler, through a round: this client's, or that of
      // whichever call carried the roots/list server-everything sends on its own 350 ms after
      // initialized (and then caches). How many times this handler ran depends on that timing;
      // what the tool reports does not.
      expect(JSON.stringify(roots.content)).toContain('file:///fixture-root');
    } finally {
      await client.close();
    }
  });

  it('a raw round: input_required with one keyed request, the retry (new id) gets the final result', async () => {
    const params = { name: 'trigger-elicitation-request', arguments: {} };
    const first = await callModern(gw.url, 'tools/call', params, { capabilities: ALL });
    expect(first.reply.result).toMatchObject({
      resultType: 'input_required',
      inputRequests: { 'elicitation-1': { method: 'elicitation/create' } },
      requestState: expect.stringMatching(/^mcpb1\./),
    });
    expect(first.reply.result).not.toHaveProperty('ttlMs');
    const { requestState } = first.reply.result as { requestState: string };
    const declined = await callModern(
      gw.url,
      'tools/call',
      { ...params, requestState, inputResponses: { 'elicitation-1': { action: 'decline' } } },
      { capabilities: ALL },
    );
    expect(declined.reply.result).toMatchObject({ resultType: 'complete' });
    expect(JSON.stringify(declined.reply.result)).toMatch(/decline/i);

    // Replaying the same state is refused: it was answered.
    const replay = await callModern(
      gw.url,
      'tools/call',
      { ...params, requestState, inputResponses: { 'elicitation-1': { action: 'decline' } } },
      { capabilities: ALL },
    );
    expect(replay.status).toBe(400);
    expect(replay.reply.error).toMatchObject({ code: -32602 });
  });

  it('a retry without the response the round asked for: the server hears an error, the call still ends', async () => {
    const params = { name: 'trigger-elicitation-request', arguments: {} };
    const first = await callModern(gw.url, 'tools/call', params, { capabilities: ALL });
    const { requestState } = first.reply.result as { requestState: string };
    const body = modernBody(
      'tools/call',
      { ...params, requestState, inputResponses: {} },
      { capabilities: ALL },
    );
    const retry = await postModern(gw.url, body);
    expect(retry.status).toBe(200);
    // The server's elicitation failed with the gateway's error, and its tool says so, under the
    // retry's own id.
    expect(retry.reply.id).toBe(body.id);
    expect(JSON.stringify(retry.reply)).toContain('client supplied no response');
  });

  it('a tampered, a cross-request and a garbage requestState are refused with 400 -32602', async () => {
    const params = { name: 'trigger-sampling-request', arguments: { prompt: 'p', maxTokens: 5 } };
    const first = await callModern(gw.url, 'tools/call', params, { capabilities: ALL });
    const { requestState } = first.reply.result as { requestState: string };
    // One character near the end changed (never to itself): the tag no longer matches.
    const at = requestState.length - 2;
    const flipped =
      requestState.slice(0, at) +
      (requestState[at] === 'A' ? 'B' : 'A') +
      requestState.slice(at + 1);
    for (const [state, p] of [
      [flipped, params],
      [requestState, { ...params, arguments: { prompt: 'other', maxTokens: 5 } }],
      ['mcpb1.bm90LWEtc3RhdGU', params],
    ] as const) {
      const retry = await callModern(
        gw.url,
        'tools/call',
        { ...p, requestState: state, inputResponses: {} },
        { capabilities: ALL },
      );
      expect(retry.status).toBe(400);
      expect(retry.reply.error).toMatchObject({
        code: -32602,
        message: expect.stringContaining('requestState'),
      });
    }
  });

  it('a server request for a capability the client did not declare never reaches it', async () => {
    // Declares elicitation only: the pooled session was initialized without sampling, so the
    // server does not even offer its sampling tool.
    const list = await callModern(gw.url, 'tools/list', {}, { capabilities: { elicitation: {} } });
    const names = (list.reply.result!.tools as { name: string }[]).map((t) => t.name);
    expect(names).toContain('trigger-elicitation-request');
    expect(names).not.toContain('trigger-sampling-request');
  });

  it('progress goes to the request’s own stream under its token', async () => {
    const { reply, notifications } = await callModern(
      gw.url,
      'tools/call',
      { name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 2 } },
      { meta: { progressToken: 'tok-7' } },
    );
    expect(reply.result).toMatchObject({ resultType: 'complete' });
    const progress = notifications.filter((n) => n.method === 'notifications/progress');
    expect(progress.length).toBe(2);
    expect(progress.every((n) => n.params?.progressToken === 'tok-7')).toBe(true);
  });

  it('log messages only when the request asked with _meta.logLevel', async () => {
    // toggle-simulated-logging sends one message at once, inside the call.
    const on = await callModern(
      gw.url,
      'tools/call',
      { name: 'toggle-simulated-logging', arguments: {} },
      { logLevel: 'debug' },
    );
    expect(on.notifications.some((n) => n.method === 'notifications/message')).toBe(true);
    const off = await callModern(gw.url, 'tools/call', {
      name: 'toggle-simulated-logging',
      arguments: {},
    });
    expect(off.notifications.filter((n) => n.method === 'notifications/message')).toEqual([]);
    const again = await callModern(gw.url, 'tools/call', {
      name: 'toggle-simulated-logging',
      arguments: {},
    });
    expect(again.notifications.filter((n) => n.method === 'notifications/message')).toEqual([]);
    // Leave it off for the tests after this one.
    await callModern(gw.url, 'tools/call', { name: 'toggle-simulated-logging', arguments: {} });
  });

  it('closing the stream mid-call cancels it; the gateway serves the next request', async () => {
    const params = { name: 'trigger-long-running-operation', arguments: { duration: 5, steps: 5 } };
    const controller = new AbortController();
    const pending = callModern(gw.url, 'tools/call', params, {
      meta: { progressToken: 'cancel-me' },
      signal: controller.signal,
    });
    await new Promise((r) => setTimeout(r, 300));
    controller.abort();
    await expect(pending).rejects.toThrow();
    // The gateway is fine and serves the next request at once.
    const next = await callModern(gw.url, 'tools/call', {
      name: 'echo',
      arguments: { message: 'after' },
    });
    expect(next.reply.result).toMatchObject({ resultType: 'complete' });
  });

  it('subscriptions/listen: the ack first (the honoured subset), then resources/updated tagged with the listen id', async () => {
    const uri = 'demo://resource/dynamic/text/1';
    // Starts the server's simulated updates on the one idle pooled session, which the listen
    // then borrows (one session per request: the same process).
    await callModern(gw.url, 'tools/call', { name: 'toggle-subscriber-updates', arguments: {} });
    const body = modernBody('subscriptions/listen', {
      notifications: { resourceSubscriptions: [uri], toolsListChanged: true, nonsense: true },
    });
    const controller = new AbortController();
    const res = await fetch(gw.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2026-07-28',
      },
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = res.body!.getReader();
    const messages: Array<{ method?: string; params?: Record<string, unknown> }> = [];
    let text = '';
    while (!messages.some((m) => m.method === 'notifications/resources/updated')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
      const events = text.split('\n\n');
      text = events.pop()!;
      for (const event of events) {
        const data = event.split('\n').find((l) => l.startsWith('data: '));
        if (data) messages.push(JSON.parse(data.slice(6)) as (typeof messages)[number]);
      }
    }
    controller.abort();
    expect(messages[0]).toMatchObject({
      method: 'notifications/subscriptions/acknowledged',
      params: {
        notifications: { resourceSubscriptions: [uri], toolsListChanged: true },
        _meta: { 'io.modelcontextprotocol/subscriptionId': body.id },
      },
    });
    const update = messages.find((m) => m.method === 'notifications/resources/updated');
    expect(update?.params).toMatchObject({
      uri,
      _meta: { 'io.modelcontextprotocol/subscriptionId': body.id },
    });
    // Stop the simulated updates again (the listen gave its session back when it closed).
    await expect
      .poll(async () => {
        const off = await callModern(gw.url, 'tools/call', {
          name: 'toggle-subscriber-updates',
          arguments: {},
        });
        return JSON.stringify(off.reply.result);
      })
      .toMatch(/stop|off|disabl/i);
  });

  it('removed methods are 404 -32601; a modern initialize too; a batch is 400 -32600', async () => {
    for (const method of ['ping', 'logging/setLevel', 'resources/subscribe', 'initialize']) {
      const { status, reply } = await callModern(gw.url, method);
      expect([method, status, reply.error?.code]).toEqual([method, 404, -32601]);
    }
    const batch = await postModern(gw.url, [modernBody('tools/list'), modernBody('tools/list')]);
    expect(batch.status).toBe(400);
    expect(batch.reply.error?.code).toBe(-32600);
  });

  it('bad envelopes: unknown version 400 -32022 naming the supported ones; no capabilities 400 -32602; header mismatch 400 -32020 — each with the request id', async () => {
    const body = modernBody('tools/list');
    (body.params as { _meta: Record<string, unknown> })._meta[
      'io.modelcontextprotocol/protocolVersion'
    ] = '2099-01-01';
    const unknown = await postModern(gw.url, body, {
      headers: { 'mcp-protocol-version': '2099-01-01' },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.reply).toMatchObject({
      id: body.id,
      error: {
        code: -32022,
        data: { supported: expect.arrayContaining(['2026-07-28']), requested: '2099-01-01' },
      },
    });
    const bare = modernBody('tools/list');
    delete (bare.params as { _meta: Record<string, unknown> })._meta[
      'io.modelcontextprotocol/clientCapabilities'
    ];
    const noCaps = await postModern(gw.url, bare);
    expect([noCaps.status, noCaps.reply.id, noCaps.reply.error?.code]).toEqual([
      400,
      bare.id,
      -32602,
    ]);
    const mismatch = modernBody('tools/list');
    const wrong = await postModern(gw.url, mismatch, { headers: { 'mcp-method': 'tools/call' } });
    expect([wrong.status, wrong.reply.id, wrong.reply.error?.code]).toEqual([
      400,
      mismatch.id,
      -32020,
    ]);
  });

  it('a legacy request without a session is refused with its own id, not null', async () => {
    const res = await fetch(gw.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 'no-session-1', method: 'tools/list' }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      id: 'no-session-1',
      error: { data: { code: 'GATEWAY_SESSION_REQUIRED' } },
    });
  });

  it('both eras at once on one /mcp: a v1 legacy session and a modern client side by side', async () => {
    let legacy: V1Client | undefined;
    const { client } = await connectModernClient(gw.url.href);
    try {
      legacy = await connectClient(gw.url, undefined, (c) => answerServerRequests(c));
      const [a, b] = await Promise.all([
        legacy.callTool({ name: 'echo', arguments: { message: 'legacy' } }),
        client.callTool({ name: 'echo', arguments: { message: 'modern' } }),
      ]);
      expect(JSON.stringify(a.content)).toContain('Echo: legacy');
      expect(firstText(b)).toBe('Echo: modern');
      // The legacy result is untouched by the modern path.
      expect(a).not.toHaveProperty('resultType');
    } finally {
      await legacy?.close();
      await client.close();
    }
  });
});

describe('server-filesystem: the roots/list it sends right after initialized, with no request in flight', () => {
  let gw: RunningGateway;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'era-fs-'));
    const root = mkdtempSync(join(tmpdir(), 'era-root-'));
    writeFileSync(join(root, 'hello.txt'), 'hi');
    rootDir = root;
    gw = await startGateway({
      transport: 'stdio',
      command: process.execPath,
      args: [FILESYSTEM, dir],
      killGraceMs: 500,
    });
  });
  let rootDir: string;
  afterAll(async () => {
    await gw?.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(rootDir, { recursive: true, force: true });
  });

  it('is held and attached to the first call’s input_required; the answer becomes the allowed directories', async () => {
    const params = { name: 'list_allowed_directories', arguments: {} };
    const first = await callModern(gw.url, 'tools/call', params, { capabilities: { roots: {} } });
    expect(first.reply.result).toMatchObject({
      resultType: 'input_required',
      inputRequests: { 'roots-1': { method: 'roots/list' } },
    });
    const { requestState } = first.reply.result as { requestState: string };
    const retry = await callModern(
      gw.url,
      'tools/call',
      {
        ...params,
        requestState,
        inputResponses: { 'roots-1': { roots: [{ uri: `file://${rootDir}`, name: 'r' }] } },
      },
      { capabilities: { roots: {} } },
    );
    expect(retry.reply.result).toMatchObject({ resultType: 'complete' });
    // The server took the roots as its allowed directories (it does so asynchronously).
    await expect
      .poll(
        async () =>
          JSON.stringify(
            (await callModern(gw.url, 'tools/call', params, { capabilities: { roots: {} } })).reply
              .result,
          ),
        { timeout: 5000 },
      )
      .toContain(rootDir);
  });
});

describe('continuations are bound to their caller', () => {
  const KEY_A = 'era-test-key-aaaaaaaa';
  const KEY_B = 'era-test-key-bbbbbbbb';
  let gw: RunningGateway;

  beforeAll(async () => {
    gw = await startGateway(undefined, { auth: { required: true, apiKeys: [KEY_A, KEY_B] } });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('another principal’s requestState is refused with 400 -32602', async () => {
    const params = { name: 'trigger-sampling-request', arguments: { prompt: 'p', maxTokens: 5 } };
    const first = await callModern(gw.url, 'tools/call', params, {
      capabilities: ALL,
      headers: { authorization: `Bearer ${KEY_A}` },
    });
    const { requestState } = first.reply.result as { requestState: string };
    const stolen = await callModern(
      gw.url,
      'tools/call',
      { ...params, requestState, inputResponses: {} },
      { capabilities: ALL, headers: { authorization: `Bearer ${KEY_B}` } },
    );
    expect(stolen.status).toBe(400);
    expect(stolen.reply.error).toMatchObject({ code: -32602 });
    const unauthenticated = await callModern(gw.url, 'tools/list');
    expect(unauthenticated.status).toBe(401);
  });
});
