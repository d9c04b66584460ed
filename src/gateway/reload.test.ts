import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/schema.js';
import type { GatewayConfigInput } from '../config/schema.js';
import { planReload } from './reload.js';

const base: GatewayConfigInput = {
  backends: { a: { command: 'a' }, b: { command: 'b' } },
};
const running = (input: GatewayConfigInput) => new Map(Object.entries(parseConfig(input).backends));

describe('planReload', () => {
  it('applies breakers, retries, sessions and processes, and reports what needs a restart', () => {
    const next = parseConfig({
      ...base,
      breakers: { failureThreshold: 1 },
      retries: { attempts: 0 },
      sessions: { idleTimeoutMs: 1000 },
      processes: { max: 3 },
      server: { allowedOrigins: ['https://app.example'], port: 9999, requestTimeoutMs: 30_000 },
      auth: { apiKeys: ['a-long-enough-key'] },
    });
    const { result } = planReload(parseConfig(base), next, running(base));
    expect(result.ignored.sort()).toEqual([
      'auth',
      'server.allowedOrigins',
      'server.port',
      'server.requestTimeoutMs',
    ]);
    expect(result).toMatchObject({ added: [], removed: [], changed: [] });
  });

  it('starts what appears, drains what goes, and replaces what changed', () => {
    const next = parseConfig({
      backends: {
        a: { command: 'a', timeoutMs: 5 },
        c: { command: 'c' },
        b: { command: 'b', enabled: false },
      },
    });
    const plan = planReload(parseConfig(base), next, running(base));
    expect(plan.result).toMatchObject({ added: ['c'], removed: ['b'], changed: ['a'] });
    expect(plan.stop.sort()).toEqual(['a', 'b']);
    expect([...plan.start.keys()]).toEqual(['a', 'c']);
  });
});
