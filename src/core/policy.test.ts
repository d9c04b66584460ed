import { describe, expect, it } from 'vitest';
import { compose } from './policy.js';
import type { Policy, RequestContext } from './policy.js';
import { messageContext } from '../../test/contexts.js';

const ctx = (): RequestContext => messageContext();

describe('compose', () => {
  it('runs policies in order around the final step, each seeing the reply on the way out', async () => {
    const trace: string[] = [];
    const tag =
      (name: string): Policy =>
      async (_ctx, next) => {
        trace.push(`${name} in`);
        const reply = await next();
        trace.push(`${name} out`);
        return reply;
      };
    const run = compose([tag('a'), tag('b')], async () => {
      trace.push('final');
      return { jsonrpc: '2.0', id: 1, result: {} };
    });
    await expect(run(ctx())).resolves.toEqual({ jsonrpc: '2.0', id: 1, result: {} });
    expect(trace).toEqual(['a in', 'b in', 'final', 'b out', 'a out']);
  });

  it('lets a policy answer instead of forwarding', async () => {
    let reached = false;
    const deny: Policy = async (c) => ({
      jsonrpc: '2.0',
      id: 1,
      error: { code: -32003, message: `no ${c.message.method}` },
    });
    const run = compose([deny], async () => {
      reached = true;
      return undefined;
    });
    const reply = await run(ctx());
    expect(reply && 'error' in reply && reply.error.message).toBe('no tools/call');
    expect(reached).toBe(false);
  });

  it('runs the rest of the chain again when a policy retries after the first call settled', async () => {
    let finals = 0;
    const retry: Policy = async (_c, next) => {
      await next();
      return next();
    };
    await compose([retry], async () => {
      finals++;
      return undefined;
    })(ctx());
    expect(finals).toBe(2);
  });

  it('refuses a policy that calls next() twice at once', async () => {
    const twice: Policy = async (_c, next) => {
      const first = next();
      const second = next();
      // Observe the refusal at once, so it is not an unhandled rejection while `first` runs.
      const refused = second.then(
        () => undefined,
        (error: unknown) => error,
      );
      await first;
      throw await refused;
    };
    await expect(
      compose([twice], () => new Promise((r) => setTimeout(() => r(undefined), 5)))(ctx()),
    ).rejects.toThrow('next() called again before the previous call settled');
  });

  it('is the final step itself when there are no policies', () => {
    const final = async () => undefined;
    expect(compose([], final)).toBe(final);
  });
});
