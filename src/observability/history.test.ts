import { afterEach, describe, expect, it, vi } from 'vitest';
import { channels } from '../core/diagnostics.js';
import type { RequestEndEvent } from '../core/diagnostics.js';
import { RequestContext } from '../core/context.js';
import { createLogger } from '../core/logger.js';
import type { BackendReport } from '../http/ops.js';
import { createHistory } from './history.js';

const report = (name: string, sessions = 1, processes = 1): BackendReport => ({
  name,
  transport: 'stdio',
  enabled: true,
  required: false,
  state: 'up',
  restarts: 0,
  lastError: undefined,
  lastChange: undefined,
  sessions,
  processes,
});

const ended = (backend: string, durationMs: number, error?: number): RequestEndEvent => ({
  sessionId: 's1',
  direction: 'to-server',
  method: 'tools/call',
  id: 1,
  backend,
  route: undefined,
  durationMs,
  error,
});

describe('the dashboard history', () => {
  afterEach(() => vi.useRealTimers());

  it('samples rates, p50 and p99 per backend each interval, and keeps the last N', () => {
    vi.useFakeTimers();
    const history = createHistory({ intervalMs: 1000, points: 3 });
    history.start({ backends: () => [report('a', 2, 1), report('b')], sessions: () => [1, 2, 3] });
    try {
      // 100 requests to a in one second, 1..100 ms, two of them errors; none to b.
      for (let ms = 1; ms <= 100; ms++)
        channels.requestEnd.publish(ended('a', ms, ms <= 2 ? -32601 : undefined));
      // A server's own request is not load.
      channels.requestEnd.publish({ ...ended('a', 5000), direction: 'to-client' });
      vi.advanceTimersByTime(1000);
      const [first] = history.samples();
      expect(first!.backends.a).toEqual({
        requestsPerSecond: 100,
        errorsPerSecond: 2,
        p50Ms: 50,
        p99Ms: 99,
        sessions: 2,
        processes: 1,
      });
      expect(first!.backends.b).toMatchObject({ requestsPerSecond: 0, p50Ms: null, p99Ms: null });
      expect(first).toMatchObject({ sessions: 3, processes: 2 });
      expect(history.errors('a')).toEqual([
        expect.objectContaining({ method: 'tools/call', error: -32601 }),
        expect.objectContaining({ method: 'tools/call', error: -32601 }),
      ]);

      vi.advanceTimersByTime(3000);
      expect(history.samples()).toHaveLength(3);
      expect(history.samples(history.samples()[1]!.time)).toHaveLength(1);
    } finally {
      history.stop();
    }
  });

  it('keeps state changes, not repeats, and the client name each session gave', async () => {
    const history = createHistory();
    history.start({ backends: () => [report('a')], sessions: () => [] });
    try {
      channels.backendState.publish({ backend: 'a', state: 'up', restarts: 0 });
      channels.backendState.publish({ backend: 'a', state: 'down', restarts: 0 });
      channels.backendState.publish({ backend: 'a', state: 'up', restarts: 1 });
      expect(history.states('a').map((s) => `${s.state}/${s.restarts}`)).toEqual([
        'up/0',
        'down/0',
        'up/1',
      ]);
      const ctx = new RequestContext({
        message: {
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: { clientInfo: { name: 'Claude', version: '1.2' } },
        },
        transport: 'streamable-http',
        session: { id: 's9', endpoint: 'a' },
        log: createLogger({ level: 'silent' }),
      });
      await history.policy(ctx, async () => undefined);
      expect(history.client('s9')).toBe('Claude 1.2');
      channels.sessionClose.publish({ sessionId: 's9', transport: 'streamable-http', reason: 'x' });
      expect(history.client('s9')).toBeUndefined();
    } finally {
      history.stop();
    }
  });
});
