import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers.js';
import { call, openEvents, startRestGateway } from '../rest-helpers.js';

/*
 * The REST layer's settings and the session lifecycle it shares with every frontend: `rest`
 * off, fresh one-shot sessions, the idle sweep ending a REST session (its events stream is told),
 * the per-client session cap, and a caller that goes away cancelling its call.
 */

describe('REST lifecycle and settings', () => {
  it('serves nothing of the REST API when rest.enabled is false', async () => {
    const running = await startRestGateway({ rest: { enabled: false } });
    try {
      for (const path of ['/sessions', '/api/v1/mcp/servers/connect', '/openapi.json', '/docs']) {
        const answer = await call(
          running.base,
          path.startsWith('/sessions') || path.includes('connect') ? 'POST' : 'GET',
          path,
          path.includes('/sessions') || path.includes('connect')
            ? { server_name: 'memory' }
            : undefined,
        );
        expect(answer.status, path).toBe(404);
        expect(JSON.stringify(answer.json)).toContain('no endpoint at');
      }
      // The ops endpoints stay.
      expect((await call(running.base, 'GET', '/health')).status).toBe(200);
    } finally {
      await running.close();
    }
  });

  it('opens and closes a session per one-shot call in fresh mode', async () => {
    const running = await startRestGateway({ rest: { oneShot: { mode: 'fresh' } } });
    try {
      for (const message of ['a', 'b']) {
        const answer = await call(running.base, 'POST', '/api/v1/servers/everything/tools/echo', {
          message,
        });
        expect(answer.json.result.content[0].text).toBe(`Echo: ${message}`);
        expect(running.gateway.sessions().filter((s) => s.transport === 'rest')).toEqual([]);
      }
    } finally {
      await running.close();
    }
  });

  it('lets the idle sweep end a REST session, telling its events stream', async () => {
    const running = await startRestGateway({
      sessions: { idleTimeoutMs: 1000, cleanupIntervalMs: 100 },
    });
    try {
      const created = await call(running.base, 'POST', '/sessions', { server: 'memory' });
      const id = created.json.session_id as string;
      const events = await openEvents(running.base, `/events/${id}`);
      try {
        const closed = await events.next((e) => e.event === 'closed', 10_000);
        expect(closed.data.reason).toBe('idle timeout');
      } finally {
        events.close();
      }
      expect((await call(running.base, 'GET', `/sessions/${id}`)).status).toBe(404);
    } finally {
      await running.close();
    }
  });

  it('holds REST sessions to sessions.maxPerClient like any other', async () => {
    const running = await startRestGateway({ sessions: { maxPerClient: 1 } });
    try {
      const first = await call(running.base, 'POST', '/sessions', { server: 'memory' });
      expect(first.status).toBe(201);
      const second = await call(running.base, 'POST', '/sessions', { server: 'memory' });
      expect(second.status).toBe(429);
      expect(second.json.error.data.code).toBe('GATEWAY_TOO_MANY_SESSIONS');
    } finally {
      await running.close();
    }
  });

  it('rate-limits REST calls like MCP ones (429 with the table code)', async () => {
    const running = await startRestGateway({
      rateLimits: { enabled: true, requests: 4, periodMs: 60_000 },
    });
    try {
      const statuses: number[] = [];
      let limited: { error: { data: { code: string } } } | undefined;
      for (let i = 0; i < 8 && !limited; i++) {
        const answer = await call(running.base, 'POST', '/api/v1/servers/memory/tools/read_graph');
        statuses.push(answer.status);
        if (answer.status === 429) limited = answer.json;
      }
      expect(statuses[0]).toBe(200);
      expect(statuses).toContain(429);
      expect(limited!.error.data.code).toBe('GATEWAY_RATE_LIMITED');
    } finally {
      await running.close();
    }
  });

  it('cancels a call whose HTTP caller goes away', async () => {
    const running = await startRestGateway();
    try {
      const created = await call(running.base, 'POST', '/sessions', { server: 'everything' });
      const id = created.json.session_id as string;
      const abort = new AbortController();
      const pending = fetch(`${running.base}/tools/call`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          session_id: id,
          tool: 'trigger-long-running-operation',
          params: { duration: 60, steps: 120 },
        }),
        signal: abort.signal,
      }).catch(() => undefined);
      const inFlight = () => running.gateway.sessions().find((s) => s.id === id)?.inFlight ?? -1;
      // The call (not the tool list before it) is running once its first progress is out.
      const events = await openEvents(running.base, `/events/${id}`);
      try {
        await events.next((e) => e.event === 'progress');
      } finally {
        events.close();
      }
      expect(inFlight()).toBe(1);
      abort.abort();
      await pending;
      await waitFor(() => inFlight() === 0, 10_000, 'the call to be cancelled');
      // The session goes on serving.
      const echoed = await call(running.base, 'POST', '/tools/call', {
        session_id: id,
        tool: 'echo',
        params: { message: 'still here' },
      });
      expect(echoed.json.result.content[0].text).toBe('Echo: still here');
    } finally {
      await running.close();
    }
  });
});
