import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { everythingStdio, waitFor } from '../helpers.js';
import { call } from '../rest-helpers.js';
import { scrape, startObservedGateway, startOtlpReceiver } from '../observability-helpers.js';
import type { ObservedGateway, OtlpReceiver } from '../observability-helpers.js';

/*
 * REST calls are observed as MCP calls are, because they run through gateway sessions: one audit
 * record per call (transport `rest`), a span per request, and the request and session metrics.
 */

const SERVER = 2;

describe('REST traffic is audited, traced and counted', () => {
  let receiver: OtlpReceiver;
  let running: ObservedGateway;
  let dir: string;
  let base: string;
  const saved = { ...process.env };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-bridge-rest-obs-'));
    receiver = await startOtlpReceiver();
    process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = receiver.url;
    running = await startObservedGateway({
      backends: { everything: everythingStdio },
      tracing: { enabled: true },
      audit: { enabled: true, destination: join(dir, 'audit.jsonl'), includeArguments: true },
    });
    base = running.url.origin;
  });

  afterAll(async () => {
    await running?.close();
    await receiver?.close();
    process.env = saved;
    rmSync(dir, { recursive: true, force: true });
  });

  it('for session calls and one-shot calls alike', async () => {
    const created = await call(base, 'POST', '/sessions', { client_id: 'observed' });
    const id = created.json.session_id as string;
    const called = await call(base, 'POST', '/tools/call', {
      session_id: id,
      tool: 'echo',
      params: { message: 'audited' },
    });
    expect(called.status).toBe(200);
    const oneShot = await call(base, 'POST', '/api/v1/servers/everything/tools/get-sum', {
      a: 1,
      b: 2,
    });
    expect(oneShot.status).toBe(200);

    const metrics = await scrape(running.admin);
    expect(
      metrics.value('mcp_gateway_requests_total', { method: 'tools/call', backend: 'everything' }),
    ).toBe(2);
    expect(metrics.value('mcp_gateway_sessions_active')).toBeGreaterThanOrEqual(2);

    await running.observability.tracing!.forceFlush();
    await waitFor(
      () =>
        receiver.spans.filter((s) => s.kind === SERVER && s.name.startsWith('tools/call')).length >=
        2,
      10_000,
      'the spans of both calls',
    );
    const spans = receiver.spans.filter(
      (s) => s.kind === SERVER && s.name.startsWith('tools/call'),
    );
    expect(spans.map((s) => s.attributes['network.transport'])).toEqual(['rest', 'rest']);
    expect(spans.find((s) => s.name === 'tools/call echo')?.attributes['mcp.session.id']).toBe(id);

    await running.close();
    const calls = readFileSync(join(dir, 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((r) => r.event === 'call');
    expect(calls).toEqual([
      expect.objectContaining({
        name: 'echo',
        transport: 'rest',
        backend: 'everything',
        session: id,
        outcome: 'ok',
        arguments: { message: 'audited' },
      }),
      expect.objectContaining({ name: 'get-sum', transport: 'rest', arguments: { a: 1, b: 2 } }),
    ]);
  });
});
