import { describe, expect, it } from 'vitest';
import { compose } from '../core/policy.js';
import type { Outcome, RequestContext } from '../core/policy.js';
import { GatewayError, toErrorReply } from '../core/errors.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { retry } from './retry.js';
import { timeout } from './timeout.js';
import { messageContext } from '../../test/contexts.js';

function ctx(method: string): RequestContext {
  return messageContext({ message: { jsonrpc: '2.0', id: 7, method }, route: { backend: 'b' } });
}

const ok: Outcome = { jsonrpc: '2.0', id: 7, result: {} };
const down = () => toErrorReply(7, new GatewayError('GATEWAY_BACKEND_UNAVAILABLE', 'b is down'));

describe('CircuitBreaker', () => {
  it('opens after consecutive failures, probes when half-open, closes after successes', async () => {
    const b = new CircuitBreaker('b', {
      failureThreshold: 3,
      openMs: 50,
      successThreshold: 2,
      failureRatio: 0,
    });
    for (let i = 0; i < 3; i++) {
      expect(b.admit()).toBe(true);
      b.record(false);
    }
    expect(b.state).toBe('open');
    expect(b.admit()).toBe(false);
    expect(b.refusal().code).toBe('GATEWAY_CIRCUIT_OPEN');
    await new Promise((r) => setTimeout(r, 60));
    expect(b.state).toBe('half-open');
    expect(b.admit()).toBe(true);
    expect(b.admit()).toBe(false); // one probe at a time
    b.record(true);
    expect(b.admit()).toBe(true);
    b.record(true);
    expect(b.state).toBe('closed');
  });

  it('opens on a failure ratio over the window', () => {
    const b = new CircuitBreaker('b', { failureThreshold: 100, failureRatio: 0.5, window: 10 });
    for (let i = 0; i < 10; i++) b.record(i % 2 === 0);
    expect(b.state).toBe('open');
  });

  it('reopens when a half-open probe fails', async () => {
    const b = new CircuitBreaker('b', { failureThreshold: 1, openMs: 20 });
    b.record(false);
    await new Promise((r) => setTimeout(r, 30));
    expect(b.admit()).toBe(true);
    b.record(false);
    expect(b.state).toBe('open');
  });
});

describe('retry', () => {
  it('retries a safe method after a backend failure', async () => {
    let calls = 0;
    const run = compose([retry(() => ({ attempts: 2, backoffMs: 1 }))], async () =>
      ++calls < 3 ? down() : ok,
    );
    expect(await run(ctx('tools/list'))).toEqual(ok);
    expect(calls).toBe(3);
  });

  it('never retries tools/call', async () => {
    let calls = 0;
    const run = compose([retry(() => ({ attempts: 2, backoffMs: 1 }))], async () => {
      calls++;
      return down();
    });
    await run(ctx('tools/call'));
    expect(calls).toBe(1);
  });

  it('does not retry errors of the application', async () => {
    let calls = 0;
    const run = compose([retry(() => ({ attempts: 2, backoffMs: 1 }))], async () => {
      calls++;
      return { jsonrpc: '2.0', id: 7, error: { code: -32602, message: 'bad arguments' } };
    });
    await run(ctx('resources/read'));
    expect(calls).toBe(1);
  });
});

describe('timeout', () => {
  it('fails a request that outlives its deadline', async () => {
    const run = compose(
      [timeout({ baseFor: () => 30, maxFor: () => 1000 })],
      () => new Promise(() => {}),
    );
    await expect(run(ctx('tools/call'))).rejects.toMatchObject({ code: 'GATEWAY_TIMEOUT' });
  });

  it('lets progress extend the deadline up to the maximum', async () => {
    const policy = timeout({ baseFor: () => 40, maxFor: () => 120 });
    const call = ctx('tools/call');
    const started = Date.now();
    const pending = compose(
      [policy],
      () => new Promise(() => {}),
    )(call).catch((e: GatewayError) => e);
    // What a link does when the backend reports progress on the request.
    const ticker = setInterval(() => call.onProgress?.(), 20);
    const error = await pending;
    clearInterval(ticker);
    expect((error as GatewayError).code).toBe('GATEWAY_TIMEOUT');
    const lasted = Date.now() - started;
    expect(lasted).toBeGreaterThanOrEqual(110); // kept alive past the 40 ms base...
  });
});
