import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, openEvents, startRestGateway } from '../rest-helpers.js';
import type { RestGateway } from '../rest-helpers.js';

/*
 * The REST/JSON API against real backends (server-everything and server-memory over stdio),
 * with API keys required and an authorization rule: both seed shapes route by route, the events
 * stream (connected, progress, heartbeat), a server's sampling request answered through it and
 * one left to expire, bad bodies naming the field, unknown and foreign sessions, one-shot calls,
 * the dashboard API, and REST sessions being real gateway sessions.
 */

const A = 'rest-key-a-0123456789';
const B = 'rest-key-b-0123456789';

let running: RestGateway;
let base: string;

beforeAll(async () => {
  running = await startRestGateway({
    auth: { required: true, apiKeys: [A, B] },
    authorization: { rules: [{ effect: 'deny', backends: ['everything'], tools: ['get-env'] }] },
    rest: { heartbeatIntervalMs: 200, serverRequestTimeoutMs: 1500 },
  });
  base = running.base;
});
afterAll(async () => {
  await running?.close();
});

async function openSession(server: string, key = A): Promise<string> {
  const created = await call(base, 'POST', '/sessions', { client_id: 'web-app', server }, key);
  expect(created.status, JSON.stringify(created.json)).toBe(201);
  return created.json.session_id as string;
}

describe('seed 000 shape', () => {
  it('creates, describes, discovers, calls and deletes a session that is a real gateway session', async () => {
    const created = await call(
      base,
      'POST',
      '/sessions',
      { client_id: 'web-app', server: 'everything', metadata: { team: 'docs' } },
      A,
    );
    expect(created.status).toBe(201);
    const id = created.json.session_id as string;
    expect(created.json).toMatchObject({
      client_id: 'web-app',
      server_name: 'everything',
      status: 'connected',
      metadata: { team: 'docs' },
    });
    expect(created.json.server_info.name).toBeTruthy();
    expect(running.gateway.sessions()).toContainEqual(
      expect.objectContaining({ id, transport: 'rest', backend: 'everything' }),
    );

    const info = await call(base, 'GET', `/sessions/${id}`, undefined, A);
    expect(info.status).toBe(200);
    expect(info.json).toMatchObject({ session_id: id, client_id: 'web-app', in_flight: 0 });

    const tools = await call(base, 'POST', '/tools/discover', { session_id: id }, A);
    expect(tools.status).toBe(200);
    const names = (tools.json.tools as { name: string }[]).map((t) => t.name);
    expect(names).toContain('echo');
    // Authorization filters the list for REST as for MCP.
    expect(names).not.toContain('get-env');

    const echoed = await call(
      base,
      'POST',
      '/tools/call',
      { session_id: id, tool: 'echo', params: { message: 'hello rest' } },
      A,
    );
    expect(echoed.status).toBe(200);
    expect(echoed.json).toMatchObject({ session_id: id, tool: 'echo' });
    expect(echoed.json.result.content[0].text).toBe('Echo: hello rest');

    const stats = await call(base, 'GET', '/stats', undefined, A);
    expect(stats.json.sessions.byTransport.rest).toBeGreaterThanOrEqual(1);
    expect(stats.json.rest.sessions).toBeGreaterThanOrEqual(1);
    expect(stats.json.process_stats).toMatchObject({ running: expect.any(Number) });

    const deleted = await call(base, 'DELETE', `/sessions/${id}`, undefined, A);
    expect(deleted.json).toEqual({ session_id: id, status: 'closed' });
    expect(running.gateway.sessions().map((s) => s.id)).not.toContain(id);
    expect((await call(base, 'GET', `/sessions/${id}`, undefined, A)).status).toBe(404);
  });

  it('binds to the aggregated endpoint when no server is named', async () => {
    const created = await call(base, 'POST', '/sessions', { client_id: 'any' }, A);
    expect(created.status).toBe(201);
    expect(created.json.server_name).toBe('*');
    const tools = await call(
      base,
      'POST',
      '/tools/discover',
      { session_id: created.json.session_id },
      A,
    );
    const names = (tools.json.tools as { name: string }[]).map((t) => t.name);
    expect(names).toContain('everything__echo');
    expect(names).toContain('memory__read_graph');
    const called = await call(
      base,
      'POST',
      '/tools/call',
      { session_id: created.json.session_id, tool: 'everything__echo', params: { message: 'x' } },
      A,
    );
    expect(called.json.result.content[0].text).toBe('Echo: x');
    await call(base, 'DELETE', `/sessions/${created.json.session_id}`, undefined, A);
  });

  it('streams connected, progress and heartbeat events while a long tool runs', async () => {
    const id = await openSession('everything');
    const events = await openEvents(base, `/events/${id}`, A);
    try {
      expect(events.status).toBe(200);
      const connected = await events.next((e) => e.event === 'connected');
      expect(connected.data).toMatchObject({ session_id: id, heartbeat_interval_ms: 200 });
      expect(events.events[0]!.event).toBe('connected');
      const done = await call(
        base,
        'POST',
        '/tools/call',
        {
          session_id: id,
          tool: 'trigger-long-running-operation',
          params: { duration: 0.6, steps: 3 },
          progress_token: 'job-1',
        },
        A,
      );
      expect(done.status).toBe(200);
      expect(done.json.result.content[0].text).toContain('Long running operation completed');
      const last = await events.next((e) => e.event === 'progress' && e.data.progress === 3);
      expect(last.data).toMatchObject({
        progressToken: 'job-1',
        total: 3,
        tool: 'trigger-long-running-operation',
      });
      const progress = events.events.filter((e) => e.event === 'progress');
      expect(progress.map((e) => e.data.progress)).toEqual([1, 2, 3]);
      expect(progress.every((e) => e.id !== undefined)).toBe(true);
      const heartbeat = await events.next((e) => e.event === 'heartbeat');
      expect(typeof heartbeat.data.timestamp).toBe('string');
    } finally {
      events.close();
      await call(base, 'DELETE', `/sessions/${id}`, undefined, A);
    }
  });

  it('surfaces a sampling request on the events stream and takes its answer', async () => {
    const id = await openSession('everything');
    const events = await openEvents(base, `/events/${id}`, A);
    try {
      await events.next((e) => e.event === 'connected');
      const pending = call(
        base,
        'POST',
        '/tools/call',
        {
          session_id: id,
          tool: 'trigger-sampling-request',
          params: { prompt: 'hi', maxTokens: 5 },
        },
        A,
      );
      const asked = await events.next((e) => e.event === 'server_request');
      expect(asked.data).toMatchObject({ method: 'sampling/createMessage' });
      expect(asked.data.params.messages[0].content.text).toContain('hi');
      const requestId = asked.data.request_id as string;

      // Nobody else may answer it.
      const foreign = await call(
        base,
        'POST',
        `/sessions/${id}/responses/${requestId}`,
        { result: {} },
        B,
      );
      expect(foreign.status).toBe(403);
      const bad = await call(
        base,
        'POST',
        `/sessions/${id}/responses/${requestId}`,
        { nope: 1 },
        A,
      );
      expect(bad.status).toBe(400);

      const answered = await call(
        base,
        'POST',
        `/sessions/${id}/responses/${requestId}`,
        {
          result: {
            role: 'assistant',
            content: { type: 'text', text: 'sampled through REST' },
            model: 'rest-test-model',
          },
        },
        A,
      );
      expect(answered.status).toBe(200);
      expect(answered.json).toEqual({ session_id: id, request_id: requestId, status: 'delivered' });
      const result = await pending;
      expect(result.status).toBe(200);
      expect(result.json.result.content[0].text).toContain('sampled through REST');
      // Answered once: a second answer finds nothing waiting.
      const again = await call(
        base,
        'POST',
        `/sessions/${id}/responses/${requestId}`,
        { result: {} },
        A,
      );
      expect(again.status).toBe(404);
    } finally {
      events.close();
      await call(base, 'DELETE', `/sessions/${id}`, undefined, A);
    }
  });

  it('tells the server when nobody answers its request in time', async () => {
    const id = await openSession('everything');
    const events = await openEvents(base, `/events/${id}`, A);
    try {
      const result = await call(
        base,
        'POST',
        '/tools/call',
        { session_id: id, tool: 'trigger-sampling-request', params: { prompt: 'unanswered' } },
        A,
      );
      const expired = await events.next((e) => e.event === 'server_request_expired');
      expect(expired.data.method).toBe('sampling/createMessage');
      // The tool failed on the timeout error the server got, and says so.
      const text = JSON.stringify(result.json);
      expect(text).toContain('no REST client answered sampling/createMessage');
    } finally {
      events.close();
      await call(base, 'DELETE', `/sessions/${id}`, undefined, A);
    }
  });

  it('replays what a stream missed after Last-Event-ID', async () => {
    const id = await openSession('everything');
    try {
      await call(
        base,
        'POST',
        '/tools/call',
        {
          session_id: id,
          tool: 'trigger-long-running-operation',
          params: { duration: 0.2, steps: 2 },
        },
        A,
      );
      // No stream was open: the progress waits in the buffer for the first one.
      const first = await openEvents(base, `/events/${id}`, A);
      const p1 = await first.next((e) => e.event === 'progress' && e.data.progress === 1);
      await first.next((e) => e.event === 'progress' && e.data.progress === 2);
      first.close();
      const resumed = await openEvents(base, `/events/${id}`, A, p1.id);
      try {
        const p2 = await resumed.next((e) => e.event === 'progress');
        expect(p2.data.progress).toBe(2);
      } finally {
        resumed.close();
      }
    } finally {
      await call(base, 'DELETE', `/sessions/${id}`, undefined, A);
    }
  });
});

describe('seed 001 shape', () => {
  it('connects, lists, calls, reads, gets a prompt, describes and closes', async () => {
    const connected = await call(
      base,
      'POST',
      '/api/v1/mcp/servers/connect',
      { server_name: 'everything' },
      A,
    );
    expect(connected.status).toBe(201);
    expect(connected.json).toEqual({
      session_id: expect.any(String),
      server_name: 'everything',
      status: 'connected',
    });
    const at = `/api/v1/mcp/sessions/${connected.json.session_id}`;
    try {
      const tools = await call(base, 'GET', `${at}/tools`, undefined, A);
      expect(tools.json.tools.map((t: { name: string }) => t.name)).toContain('get-sum');
      const sum = await call(
        base,
        'POST',
        `${at}/tools/call`,
        { tool_name: 'get-sum', arguments: { a: 2, b: 3 } },
        A,
      );
      expect(sum.status).toBe(200);
      expect(sum.json).toMatchObject({ tool_name: 'get-sum', success: true });
      expect(sum.json.result.content[0].text).toContain('5');

      const resources = await call(base, 'GET', `${at}/resources`, undefined, A);
      expect(resources.status).toBe(200);
      const uri = resources.json.resources[0].uri as string;
      const read = await call(base, 'POST', `${at}/resources/read`, { uri }, A);
      expect(read.status).toBe(200);
      expect(read.json.uri).toBe(uri);
      expect(read.json.content.contents[0].uri).toBe(uri);

      const prompts = await call(base, 'GET', `${at}/prompts`, undefined, A);
      expect(prompts.json.prompts.map((p: { name: string }) => p.name)).toContain('simple-prompt');
      const prompt = await call(
        base,
        'POST',
        `${at}/prompts/get`,
        { prompt_name: 'simple-prompt' },
        A,
      );
      expect(prompt.status).toBe(200);
      expect(prompt.json.result.messages.length).toBeGreaterThan(0);

      const info = await call(base, 'GET', `${at}/info`, undefined, A);
      expect(info.json).toMatchObject({ server_name: 'everything', status: 'connected' });
      expect(info.json.server_info.name).toBeTruthy();
      expect(typeof info.json.protocol_version).toBe('string');

      const events = await openEvents(base, `${at}/events`, A);
      try {
        expect((await events.next((e) => e.event === 'connected')).data.session_id).toBe(
          connected.json.session_id,
        );
      } finally {
        events.close();
      }
    } finally {
      const closed = await call(base, 'DELETE', at, undefined, A);
      expect(closed.json.status).toBe('closed');
    }
    expect((await call(base, 'GET', `${at}/tools`, undefined, A)).status).toBe(404);
  });

  it('drives server-memory: create entities, read the graph back', async () => {
    const connected = await call(
      base,
      'POST',
      '/api/v1/mcp/servers/connect',
      { server_name: 'memory' },
      A,
    );
    const at = `/api/v1/mcp/sessions/${connected.json.session_id}`;
    try {
      const created = await call(
        base,
        'POST',
        `${at}/tools/call`,
        {
          tool_name: 'create_entities',
          arguments: {
            entities: [{ name: 'Ada', entityType: 'person', observations: ['wrote notes'] }],
          },
        },
        A,
      );
      expect(created.status).toBe(200);
      expect(created.json.success).toBe(true);
      const graph = await call(base, 'POST', `${at}/tools/call`, { tool_name: 'read_graph' }, A);
      expect(JSON.stringify(graph.json.result)).toContain('Ada');
      // A tool error is a result, with success false.
      const missing = await call(
        base,
        'POST',
        `${at}/tools/call`,
        {
          tool_name: 'add_observations',
          arguments: { observations: [{ entityName: 'Nobody', contents: ['x'] }] },
        },
        A,
      );
      expect(missing.status).toBe(200);
      expect(missing.json.success).toBe(false);
      expect(missing.json.error).toContain('Nobody');
    } finally {
      await call(base, 'DELETE', at, undefined, A);
    }
  });

  it('serves the dashboard API and keeps the services API', async () => {
    const overview = await call(base, 'GET', '/api/v1/dashboard/overview', undefined, A);
    expect(overview.status).toBe(200);
    expect(overview.json).toMatchObject({ total_services: 2, status: expect.any(String) });
    const health = await call(base, 'GET', '/api/v1/dashboard/services/health', undefined, A);
    expect(health.json.services.map((s: { service_id: string }) => s.service_id).sort()).toEqual([
      'everything',
      'memory',
    ]);
    expect((await call(base, 'GET', '/api/v1/services/memory/health', undefined, A)).status).toBe(
      200,
    );
    expect((await call(base, 'GET', '/api/v1/dashboard/overview')).status).toBe(401);
  });
});

describe('one-shot calls', () => {
  it('calls a tool with the arguments as the body, reusing one pooled session', async () => {
    const first = await call(
      base,
      'POST',
      '/api/v1/servers/everything/tools/echo',
      { message: 'one shot' },
      A,
    );
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({
      server_name: 'everything',
      tool_name: 'echo',
      success: true,
    });
    expect(first.json.result.content[0].text).toBe('Echo: one shot');
    const restSessions = () => running.gateway.sessions().filter((s) => s.transport === 'rest');
    const before = restSessions().length;
    const second = await call(
      base,
      'POST',
      '/api/v1/servers/everything/tools/echo',
      { message: '2' },
      A,
    );
    expect(second.json.result.content[0].text).toBe('Echo: 2');
    expect(restSessions().length).toBe(before);
    const graph = await call(base, 'POST', '/api/v1/servers/memory/tools/read_graph', undefined, A);
    expect(graph.status).toBe(200);
  });

  it('refuses bad arguments, unknown backends and forbidden tools with their statuses', async () => {
    const bad = await call(
      base,
      'POST',
      '/api/v1/servers/everything/tools/echo',
      { message: 7 },
      A,
    );
    expect(bad.status).toBe(400);
    expect(bad.json.error.data).toMatchObject({
      code: 'GATEWAY_INVALID_REQUEST',
      field: 'body.message',
    });
    const unknown = await call(base, 'POST', '/api/v1/servers/nowhere/tools/echo', {}, A);
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.data.code).toBe('GATEWAY_BACKEND_DISABLED');
    const forbidden = await call(base, 'POST', '/api/v1/servers/everything/tools/get-env', {}, A);
    expect(forbidden.status).toBe(403);
    expect(forbidden.json.error.data.code).toBe('GATEWAY_FORBIDDEN');
  });
});

describe('bad bodies, unknown sessions, auth', () => {
  it('answers 400 naming the field', async () => {
    const id = await openSession('everything');
    try {
      const cases: [string, string, unknown, string][] = [
        ['POST', '/tools/call', { session_id: id, params: {} }, 'tool'],
        [
          'POST',
          '/tools/call',
          { session_id: id, tool: 'echo', params: { message: 1 } },
          'params.message',
        ],
        ['POST', '/tools/call', { session_id: id, tool: 'echo', params: {} }, 'params.message'],
        ['POST', '/tools/call', { session_id: id, tool: 'echo', params: 'x' }, 'params'],
        ['POST', '/tools/discover', {}, 'session_id'],
        ['POST', '/sessions', { client_id: 5 }, 'client_id'],
        ['POST', '/api/v1/mcp/servers/connect', {}, 'server_name'],
        [
          'POST',
          `/api/v1/mcp/sessions/${id}/tools/call`,
          { tool_name: 'get-sum', arguments: { a: 'two', b: 3 } },
          'arguments.a',
        ],
        ['POST', `/api/v1/mcp/sessions/${id}/resources/read`, { uri: '' }, 'uri'],
        ['POST', `/api/v1/mcp/sessions/${id}/prompts/get`, { arguments: {} }, 'prompt_name'],
      ];
      for (const [method, path, body, field] of cases) {
        const answer = await call(base, method, path, body, A);
        expect(answer.status, `${path} ${JSON.stringify(body)}`).toBe(400);
        expect(answer.json.error.data.field, `${path} ${JSON.stringify(body)}`).toBe(field);
        expect(answer.json.error.message).toContain(field);
      }
      const notJson = await call(base, 'POST', '/tools/call', '{"session_id":', A);
      expect(notJson.status).toBe(400);
      expect(notJson.json.error.data.code).toBe('GATEWAY_PARSE_ERROR');
      const empty = await call(base, 'POST', '/tools/discover', '', A);
      expect(empty.status).toBe(400);
      const wrongMethod = await call(base, 'PUT', '/tools/call', {}, A);
      expect(wrongMethod.status).toBe(405);
    } finally {
      await call(base, 'DELETE', `/sessions/${id}`, undefined, A);
    }
  });

  it('answers 404 for an unknown session on every route that names one', async () => {
    const paths: [string, string, unknown][] = [
      ['GET', '/sessions/nope', undefined],
      ['DELETE', '/sessions/nope', undefined],
      ['POST', '/tools/discover', { session_id: 'nope' }],
      ['POST', '/tools/call', { session_id: 'nope', tool: 'echo' }],
      ['GET', '/events/nope', undefined],
      ['POST', '/sessions/nope/responses/1', { result: {} }],
      ['GET', '/api/v1/mcp/sessions/nope/tools', undefined],
      ['GET', '/api/v1/mcp/sessions/nope/info', undefined],
      ['POST', '/api/v1/mcp/sessions/nope/tools/call', { tool_name: 'echo' }],
      ['DELETE', '/api/v1/mcp/sessions/nope', undefined],
    ];
    for (const [method, path, body] of paths) {
      const answer = await call(base, method, path, body, A);
      expect(answer.status, `${method} ${path}`).toBe(404);
      expect(answer.json.error.data.code).toBe('GATEWAY_SESSION_NOT_FOUND');
    }
    const unknownBackend = await call(base, 'POST', '/sessions', { server: 'nowhere' }, A);
    expect(unknownBackend.status).toBe(404);
    expect(unknownBackend.json.error.data.code).toBe('GATEWAY_BACKEND_DISABLED');
  });

  it('answers 401 without a valid key, and 403 on another caller’s session', async () => {
    const missing = await call(base, 'POST', '/sessions', { server: 'everything' });
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toContain('Bearer');
    const wrong = await call(
      base,
      'POST',
      '/tools/discover',
      { session_id: 'x' },
      'not-a-key-000000',
    );
    expect(wrong.status).toBe(401);
    expect((await call(base, 'GET', '/events/x')).status).toBe(401);
    expect((await call(base, 'GET', '/api/v1/mcp/sessions/x/tools')).status).toBe(401);

    const id = await openSession('everything', A);
    try {
      const theirs: [string, string, unknown][] = [
        ['GET', `/sessions/${id}`, undefined],
        ['POST', '/tools/discover', { session_id: id }],
        ['POST', '/tools/call', { session_id: id, tool: 'echo', params: { message: 'x' } }],
        ['GET', `/events/${id}`, undefined],
        ['GET', `/api/v1/mcp/sessions/${id}/tools`, undefined],
        ['POST', `/api/v1/mcp/sessions/${id}/tools/call`, { tool_name: 'echo' }],
        ['DELETE', `/api/v1/mcp/sessions/${id}`, undefined],
        ['DELETE', `/sessions/${id}`, undefined],
      ];
      for (const [method, path, body] of theirs) {
        const answer = await call(base, method, path, body, B);
        expect(answer.status, `${method} ${path}`).toBe(403);
        expect(answer.json.error.data.code).toBe('GATEWAY_FORBIDDEN');
      }
      // Still there, still the owner's.
      expect((await call(base, 'GET', `/sessions/${id}`, undefined, A)).status).toBe(200);
      // Authorization applies to REST calls as to MCP ones.
      const denied = await call(
        base,
        'POST',
        '/tools/call',
        { session_id: id, tool: 'get-env', params: {} },
        A,
      );
      expect(denied.status).toBe(403);
      expect(denied.json.error.data.code).toBe('GATEWAY_FORBIDDEN');
    } finally {
      await call(base, 'DELETE', `/sessions/${id}`, undefined, A);
    }
  });
});
