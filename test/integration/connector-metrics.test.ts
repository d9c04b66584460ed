import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { FIXTURES, startGateway, waitFor } from '../helpers.js';

/*
 * The connector's opt-in Prometheus metrics, scraped from the process: the link's state,
 * requests by method and outcome with their latency, the queue's depth during an outage and the
 * reconnection after it (the gateway, in this process, is closed and a new one listens on the
 * same port).
 */

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const probe = {
  transport: 'stdio' as const,
  command: process.execPath,
  args: [`${FIXTURES}probe-server.mjs`],
  killGraceMs: 500,
};

/** The value of one sample in a Prometheus text page, or undefined. */
function sample(page: string, series: string): number | undefined {
  const line = page.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('mcp-bridge connect --metrics-port', () => {
  it('shows the link, the requests and their latency, the queue and the reconnects', async () => {
    let gw = await startGateway(probe);
    const port = Number(gw.url.port);
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'connect', gw.url.toString(), '--metrics-port', '0', '--backoff-max-ms', '200'],
      env: { PATH: process.env.PATH ?? '' },
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr!.on('data', (d: Buffer) => (stderr += d));
    const client = new Client({ name: 'desktop', version: '1' });
    try {
      await client.connect(transport);
      await waitFor(
        () => /connector metrics at \/metrics/.test(stderr),
        10_000,
        'the metrics log line',
      );
      const metricsPort =
        /"port":(\d+)[^\n]*connector metrics at|connector metrics at[^\n]*"port":(\d+)/.exec(
          stderr,
        );
      const base = `http://127.0.0.1:${metricsPort![1] ?? metricsPort![2]}`;
      const scrape = async () => (await fetch(`${base}/metrics`)).text();

      await client.listTools();
      await client.callTool({ name: 'big', arguments: { bytes: 1 } });
      let page = await scrape();
      expect(sample(page, 'mcp_connector_connection_state{state="connected"}')).toBe(1);
      expect(sample(page, 'mcp_connector_connection_state{state="reconnecting"}')).toBe(0);
      expect(sample(page, 'mcp_connector_requests_total{method="tools/call",outcome="ok"}')).toBe(
        1,
      );
      expect(
        sample(page, 'mcp_connector_request_duration_seconds_count{method="tools/list"}'),
      ).toBe(1);
      expect(sample(page, 'mcp_connector_reconnects_total')).toBe(0);
      expect((await fetch(`${base}/health`)).status).toBe(200);

      await gw.close();
      // A call made while the gateway is away waits in the queue, and the page shows it there.
      const during = client.callTool({ name: 'big', arguments: { bytes: 2 } });
      let depth = 0;
      for (let i = 0; i < 200 && depth === 0; i++) {
        page = await scrape();
        depth = sample(page, 'mcp_connector_queue_depth') ?? 0;
        if (depth === 0) await new Promise((resolve) => setTimeout(resolve, 25));
      }
      expect(depth).toBe(1);
      expect(sample(page, 'mcp_connector_connected')).toBe(0);
      expect((await fetch(`${base}/health`)).status).toBe(503);

      gw = await startGateway(probe, { server: { host: '127.0.0.1', port } });
      expect(JSON.stringify((await during).content)).toContain('xx');
      page = await scrape();
      expect(sample(page, 'mcp_connector_reconnects_total')).toBe(1);
      expect(sample(page, 'mcp_connector_queue_depth')).toBe(0);
      expect(sample(page, 'mcp_connector_connection_state{state="connected"}')).toBe(1);
      expect(sample(page, 'mcp_connector_requests_total{method="tools/call",outcome="ok"}')).toBe(
        2,
      );
      expect((await fetch(`${base}/nope`)).status).toBe(404);
    } finally {
      await client.close();
      await gw.close();
    }
  });
});
