import { request } from 'node:http';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { isAlive, waitFor } from '../helpers.js';
import {
  INITIALIZE,
  backendPids,
  echoBackend,
  itUnlessKnown,
  normalSession,
  rpc,
  rssOf,
  startCliGateway,
} from './cli-gateway.js';

/*
 * Faults around the gateway, each observed from outside through the built CLI: the backend dies,
 * hangs, talks garbage, crash-loops or floods stderr; a client vanishes or holds sockets open
 * half-written. The backends are modes of test/fixtures/fuzz-echo-server.mjs. Behaviours that are
 * known defects (fuzz/known-defects.json) are expected failures until their entry is deleted.
 */

const ECHO_PATH = '/servers/echo/mcp';
const CALL = {
  jsonrpc: '2.0',
  id: 7,
  method: 'tools/call',
  params: { name: 'echo', arguments: { text: 'hi' } },
};

async function openSession(url: string): Promise<string> {
  const init = await rpc(url, INITIALIZE);
  expect(init.status).toBe(200);
  expect(init.session).toBeTruthy();
  await rpc(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, init.session!);
  return init.session!;
}

describe('backend faults', () => {
  it('a backend SIGKILLed mid-call: the call gets a JSON-RPC error, the gateway lives, the next session works', async () => {
    const gw = await startCliGateway({
      backends: { echo: echoBackend('--hang-on-call', { timeoutMs: 120_000 }) },
    });
    try {
      const url = gw.base + ECHO_PATH;
      const session = await openSession(url);
      const [pid] = backendPids(gw.pid);
      expect(pid).toBeDefined();
      const pending = rpc(url, CALL, session);
      // The call is in flight (the fixture never answers tools/call); now the backend dies.
      await new Promise((r) => setTimeout(r, 300));
      process.kill(pid!, 'SIGKILL');
      const reply = await pending;
      expect(reply.body.id).toBe(7);
      expect(reply.body.error?.data?.code).toMatch(/GATEWAY_BACKEND_EXITED|GATEWAY_SESSION_CLOSED/);
      expect(reply.text).not.toMatch(/\n\s+at /);
      expect(isAlive(gw.pid)).toBe(true);
      expect(await normalSession(url)).toContain('echo');
    } finally {
      await gw.close();
    }
  });

  it('a backend that never answers: the client gets GATEWAY_TIMEOUT from the configured timeout', async () => {
    const gw = await startCliGateway({
      backends: { echo: echoBackend('--hang-on-call', { timeoutMs: 1500 }) },
    });
    try {
      const url = gw.base + ECHO_PATH;
      const session = await openSession(url);
      // The deadline here only tells a hang from an answer; what is asserted is the error.
      const reply = await rpc(url, CALL, session, {}, AbortSignal.timeout(30_000));
      expect(reply.body.id).toBe(7);
      expect(reply.body.error?.code).toBe(-32018);
      expect(reply.body.error?.data?.code).toBe('GATEWAY_TIMEOUT');
      expect(reply.body.error?.message).toMatch(/did not answer tools\/call within \d+ ms/);
      // The session goes on.
      const list = await rpc(url, { jsonrpc: '2.0', id: 8, method: 'tools/list' }, session);
      expect(list.body.result?.tools?.map((t) => t.name)).toContain('echo');
    } finally {
      await gw.close();
    }
  });

  it('garbage on the backend stdout is skipped: calls still work', async () => {
    const gw = await startCliGateway({ backends: { echo: echoBackend('--garbage') } });
    try {
      const url = gw.base + ECHO_PATH;
      const session = await openSession(url);
      for (let i = 0; i < 5; i++) {
        const reply = await rpc(url, { ...CALL, id: 100 + i }, session);
        expect(reply.status).toBe(200);
        expect(reply.body.result).toEqual({ content: [{ type: 'text', text: 'hi' }] });
      }
      expect(isAlive(gw.pid)).toBe(true);
    } finally {
      await gw.close();
    }
  });

  describe('a backend in a crash loop (exits at start)', () => {
    const crashing = () =>
      startCliGateway({
        processes: { restartBackoffMs: 100, maxRestartAttempts: 2 },
        backends: { echo: echoBackend('--exit-at-start') },
      });

    it('clients get a clear error and no session; the gateway stays alive', async () => {
      const gw = await crashing();
      try {
        for (let i = 0; i < 5; i++) {
          const init = await rpc(gw.base + ECHO_PATH, { ...INITIALIZE, id: i + 1 });
          expect(init.status).toBeGreaterThanOrEqual(500);
          expect(init.session).toBeNull();
          expect(init.body.error?.data?.code).toMatch(
            /GATEWAY_BACKEND_EXITED|GATEWAY_BACKEND_UNAVAILABLE/,
          );
          expect(init.text).not.toMatch(/\n\s+at /);
        }
        expect(isAlive(gw.pid)).toBe(true);
        const health = await fetch(`${gw.base}/healthz`);
        expect(health.status).toBe(200);
      } finally {
        await gw.close();
      }
    });

    itUnlessKnown('crash-loop-health')(
      '/health reports the crash-looping backend as failing',
      async () => {
        const gw = await crashing();
        try {
          for (let i = 0; i < 3; i++) await rpc(gw.base + ECHO_PATH, { ...INITIALIZE, id: i + 1 });
          const res = await fetch(`${gw.base}/health`);
          const body = (await res.json()) as { backends: Array<{ name: string; state: string }> };
          expect(res.status).toBe(503);
          expect(body.backends.find((b) => b.name === 'echo')?.state).not.toBe('up');
        } finally {
          await gw.close();
        }
      },
    );
  });

  it('100 MiB of backend stderr: the gateway stays alive with its memory bounded', async () => {
    // At the default level every line of that stderr is logged: the gateway's own log is the
    // flood's way out, and the test reads (and counts) all of it.
    // The fixture answers initialize only after its 100 MiB, which the gateway logs line by line:
    // on a slow machine that outlasts the 10 s handshake bound, which is not what this tests.
    const gw = await startCliGateway({
      backends: { echo: echoBackend('--stderr-flood 100') },
      sessions: { handshakeTimeoutMs: 120_000 },
    });
    try {
      let maxRss = rssOf(gw.pid);
      const sampler = setInterval(() => {
        if (isAlive(gw.pid)) maxRss = Math.max(maxRss, rssOf(gw.pid));
      }, 100);
      try {
        // The fixture writes its 100 MiB before it answers anything: initialize returns after.
        const url = gw.base + ECHO_PATH;
        const session = await openSession(url);
        const reply = await rpc(url, CALL, session);
        expect(reply.body.result).toEqual({ content: [{ type: 'text', text: 'hi' }] });
      } finally {
        clearInterval(sampler);
      }
      expect(isAlive(gw.pid)).toBe(true);
      expect(maxRss).toBeGreaterThan(0);
      expect(maxRss).toBeLessThan(300 * 1024 * 1024);
    } finally {
      await gw.close();
    }
  }, 240_000);
});

describe('client faults', () => {
  it('a legacy SSE client gone mid-stream: its backend process is ended', async () => {
    const gw = await startCliGateway({ backends: { echo: echoBackend() } });
    try {
      const before = new Set(backendPids(gw.pid));
      let endpoint = '';
      const req = request({
        host: '127.0.0.1',
        port: gw.port,
        path: '/servers/echo/sse',
        headers: { accept: 'text/event-stream' },
      });
      req.on('response', (res) => {
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          endpoint ||= /data: (\S+)/.exec(c)?.[1] ?? '';
        });
      });
      req.on('error', () => {});
      req.end();
      await waitFor(() => endpoint !== '', 10_000, 'the endpoint event');
      const post = await fetch(gw.base + endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(INITIALIZE),
      });
      expect(post.status).toBe(202);
      let mine: number[] = [];
      await waitFor(
        () => (mine = backendPids(gw.pid).filter((p) => !before.has(p))).length > 0,
        10_000,
        'the session backend',
      );
      req.destroy();
      await waitFor(() => mine.every((p) => !isAlive(p)), 15_000, 'the backend to be ended');
      expect(isAlive(gw.pid)).toBe(true);
    } finally {
      await gw.close();
    }
  });

  it('a WebSocket client gone mid-call: its backend process is ended', async () => {
    const gw = await startCliGateway({
      backends: { echo: echoBackend('--hang-on-call', { timeoutMs: 120_000 }) },
    });
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/servers/echo/ws`, 'mcp');
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      const replies: string[] = [];
      ws.on('message', (d) => replies.push(String(d)));
      ws.send(JSON.stringify(INITIALIZE));
      await waitFor(() => replies.some((r) => r.includes('"id":1')), 10_000, 'initialize');
      const [pid] = backendPids(gw.pid);
      expect(pid).toBeDefined();
      ws.send(JSON.stringify(CALL));
      ws.terminate();
      await waitFor(() => !isAlive(pid!), 15_000, 'the backend to be ended');
      expect(await normalSession(gw.base + '/servers/echo/mcp')).toContain('echo');
    } finally {
      await gw.close();
    }
  });

  it('slowloris: with 200 sockets holding half-written heads open, normal calls are served', async () => {
    const gw = await startCliGateway({ backends: { echo: echoBackend() } });
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 200; i++) {
        const s = connect(gw.port, '127.0.0.1');
        s.on('error', () => {});
        s.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${gw.port}\r\nX-Slow-${i}: `);
        sockets.push(s);
      }
      await Promise.all(
        sockets.map(
          (s) => new Promise<void>((r) => (s.connecting ? s.once('connect', () => r()) : r())),
        ),
      );
      for (let i = 0; i < 3; i++)
        expect(await normalSession(gw.base + ECHO_PATH)).toContain('echo');
      expect(sockets.filter((s) => !s.destroyed).length).toBe(200);
    } finally {
      for (const s of sockets) s.destroy();
      await gw.close();
    }
  });

  // Known defect slowloris (issue 13.5): no header or request timeout, so the sockets above are
  // never closed. When it is fixed: assert that they are closed after the configured header
  // timeout, and that a per-address cap refuses the 201st.
});
