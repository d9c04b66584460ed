import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { FIXTURES, connectClient } from '../helpers.js';
import { scrape, startObservedGateway, startOtlpReceiver } from '../observability-helpers.js';
import type { ObservedGateway, OtlpReceiver } from '../observability-helpers.js';

/*
 * Every per-backend policy runs in its backend's own chain, so a call reaches it the same way
 * through the aggregated endpoint as through the backend's own: deadlines, breakers,
 * authorization, rate limits, and what audit, tracing and metrics say of where it went. Three
 * backends; one whose prefix makes its offered names longer than 64 characters (shortened), one
 * with a renamed tool. No observer guesses the backend from a name.
 */

const probe = (extra: Record<string, unknown> = {}) => ({
  transport: 'stdio' as const,
  command: process.execPath,
  args: [join(FIXTURES, 'probe-server.mjs')],
  killGraceMs: 500,
  ...extra,
});

const LONG = 'a-prefix-long-enough-that-every-offered-name-is-over-sixty-four';

function errorOf(result: unknown): { code?: string; message?: string } {
  const e = result as { code?: number; message?: string; data?: { code?: string } };
  return { code: e.data?.code, message: e.message };
}

describe('per-backend policies, direct and aggregated', () => {
  let dir: string;
  let receiver: OtlpReceiver;
  let running: ObservedGateway;
  let aggregated: Client;
  const saved = { ...process.env };
  const clients: Client[] = [];
  const direct = async (name: string) => {
    const url = new URL(`/servers/${name}/mcp`, running.url);
    const c = await connectClient(url);
    clients.push(c);
    return c;
  };
  const fail = (promise: Promise<unknown>) =>
    promise.then(
      (value) => ({ value, ok: true as const }),
      (error: unknown) => ({ ...errorOf(error), ok: false as const }),
    );
  let tools: Array<{ name: string; description?: string }> = [];
  let names: string[] = [];
  /** The slow backend's tools are offered under shortened names: found by their description. */
  const slowTool = (description: string) =>
    tools.find(
      (t) => t.name.startsWith(LONG.slice(0, 40)) && t.description?.startsWith(description),
    )!.name;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-bridge-routed-'));
    receiver = await startOtlpReceiver();
    process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = receiver.url;
    running = await startObservedGateway({
      backends: {
        slow: probe({ timeoutMs: 300, prefix: LONG }),
        renamed: probe({ tools: { overrides: { wait: { name: 'pause' } } } }),
        limited: probe(),
      },
      breakers: { enabled: true, failureThreshold: 2, failureRatio: 0, openMs: 60_000 },
      retries: { attempts: 0 },
      authorization: {
        default: 'allow',
        rules: [{ effect: 'deny', backends: ['renamed'], tools: ['cancellations'] }],
      },
      rateLimits: {
        enabled: true,
        rules: [{ scope: 'tool', match: 'pid', requests: 2, periodMs: 60_000 }],
      },
      tracing: { enabled: true },
      audit: { enabled: true, destination: join(dir, 'audit.jsonl') },
    });
    aggregated = await connectClient(running.url);
    clients.push(aggregated);
    tools = (await aggregated.listTools()).tools;
    names = tools.map((t) => t.name);
  });

  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await running?.close();
    await receiver?.close();
    process.env = saved;
    rmSync(dir, { recursive: true, force: true });
  });

  it('offers shortened and renamed names on /mcp, and the renamed tool on its own endpoint', async () => {
    expect(slowTool('Waits')).toMatch(/_[0-9a-f]{8}$/);
    expect(names.every((n) => n.length <= 64)).toBe(true);
    expect(names.filter((n) => n.startsWith(LONG.slice(0, 40)))).toHaveLength(5);
    expect(names).toContain('renamed__pause');
    expect(names).not.toContain('renamed__wait');
    const own = (await (await direct('renamed')).listTools()).tools.map((t) => t.name);
    expect(own).toContain('pause');
    expect(own).not.toContain('wait');
  });

  it("applies the backend's deadline, then opens its breaker, on both endpoints", async () => {
    const wait = slowTool('Waits');
    const viaRoot = await fail(aggregated.callTool({ name: wait, arguments: { ms: 5000 } }));
    const ownClient = await direct('slow');
    const viaOwn = await fail(ownClient.callTool({ name: 'wait', arguments: { ms: 5000 } }));
    for (const outcome of [viaRoot, viaOwn]) {
      expect(outcome).toMatchObject({ ok: false, code: 'GATEWAY_TIMEOUT' });
      expect(outcome.ok === false && outcome.message).toMatch(/slow did not answer tools\/call/);
    }
    // Two failures in a row: one breaker for the backend, whichever endpoint the calls came by.
    for (const c of [aggregated, ownClient]) {
      expect(
        await fail(c.callTool({ name: c === aggregated ? wait : 'wait', arguments: { ms: 1 } })),
      ).toMatchObject({
        ok: false,
        code: 'GATEWAY_CIRCUIT_OPEN',
      });
    }
  });

  it('authorizes by backend and its own tool name on both endpoints', async () => {
    expect(names).not.toContain('renamed__cancellations');
    expect(names).toContain('limited__cancellations');
    const own = await direct('renamed');
    expect((await own.listTools()).tools.map((t) => t.name)).not.toContain('cancellations');
    for (const [c, name] of [
      [aggregated, 'renamed__cancellations'],
      [own, 'cancellations'],
    ] as const) {
      const refused = await fail(c.callTool({ name, arguments: {} }));

      expect(refused).toMatchObject({ ok: false, code: 'GATEWAY_FORBIDDEN' });
      expect(refused.ok === false && refused.message).toMatch(/tool:cancellations on renamed/);
    }
    expect(
      await fail(aggregated.callTool({ name: 'limited__cancellations', arguments: {} })),
    ).toMatchObject({ ok: true });
  });

  it("counts a tool's rate limit where the call meets its backend, whichever endpoint", async () => {
    const own = await direct('limited');
    expect(await fail(aggregated.callTool({ name: 'limited__pid', arguments: {} }))).toMatchObject({
      ok: true,
    });
    expect(await fail(own.callTool({ name: 'pid', arguments: {} }))).toMatchObject({ ok: true });
    for (const [c, name] of [
      [aggregated, 'limited__pid'],
      [own, 'pid'],
    ] as const) {
      // Over Streamable HTTP the refusal is a 429 carrying the JSON-RPC error.
      const refused = await fail(c.callTool({ name, arguments: {} }));
      expect(refused.ok).toBe(false);
      expect(JSON.stringify(refused)).toContain('GATEWAY_RATE_LIMITED');
    }
  });

  it('audits, traces and counts each call under the backend it went to', async () => {
    const shortened = slowTool('Request ids cancelled');
    // The slow backend's breaker is open by now: the call is refused there, after routing.
    await fail(aggregated.callTool({ name: 'renamed__pause', arguments: { ms: 1 } }));
    await fail(aggregated.callTool({ name: shortened, arguments: {} }));

    const metrics = await scrape(running.admin);
    expect(
      metrics.value('mcp_gateway_requests_total', { backend: 'renamed', method: 'tools/call' }),
    ).toBeGreaterThanOrEqual(3);
    expect(
      metrics.value('mcp_gateway_requests_total', { backend: 'slow', method: 'tools/call' }),
    ).toBeGreaterThanOrEqual(2);
    expect(metrics.value('mcp_gateway_requests_total', { backend: 'unknown' })).toBe(0);
    for (const s of metrics.samples.filter((x) => x.name === 'mcp_gateway_requests_in_flight'))
      expect(s.value).toBeGreaterThanOrEqual(0);

    await running.observability.tracing!.forceFlush();
    const calls = receiver.spans.filter(
      (s) => s.kind === 2 && s.name === 'tools/call renamed__pause',
    );
    expect(calls.at(-1)?.attributes).toMatchObject({
      'mcp_bridge.backend': 'renamed',
      'mcp_bridge.backend_name': 'wait',
    });
    const long = receiver.spans.find((s) => s.kind === 2 && s.name === `tools/call ${shortened}`);
    expect(long?.attributes['mcp_bridge.backend']).toBe('slow');

    await running.close();
    const records = readFileSync(join(dir, 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((r) => r.event === 'call');
    expect(records).toContainEqual(
      expect.objectContaining({
        name: 'renamed__pause',
        backend: 'renamed',
        backendName: 'wait',
        outcome: 'ok',
      }),
    );
    expect(records).toContainEqual(
      expect.objectContaining({ name: shortened, backend: 'slow', backendName: 'cancellations' }),
    );
    expect(records).toContainEqual(
      expect.objectContaining({
        name: 'renamed__cancellations',
        backend: 'renamed',
        error: 'GATEWAY_FORBIDDEN',
      }),
    );
    expect(records.some((r) => r.backend === 'unknown' || r.backend === '*')).toBe(false);
  });
});
