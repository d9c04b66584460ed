import { describe, expect, it } from 'vitest';
import { channels } from '../core/diagnostics.js';
import type { Metrics } from './metrics.js';
import { createMetrics } from './metrics.js';

/*
 * The metrics as the scrape prints them, from events published on the channels as the core
 * publishes them. The request, byte and connection series are counted outside prom-client and
 * handed to it at scrape time: these tests pin the exact lines it printed when it counted them.
 */

async function withMetrics(run: (metrics: Metrics) => Promise<void> | void): Promise<void> {
  const metrics = createMetrics({ processMetrics: false });
  metrics.subscribe();
  try {
    await run(metrics);
  } finally {
    metrics.unsubscribe();
  }
}

/** The sample lines of one metric (histograms: `_bucket`, `_sum`, `_count`), in scrape order. */
async function samples(metrics: Metrics, name: string): Promise<string[]> {
  const text = await metrics.text();
  return text.split('\n').filter((line) => /^[a-z_]+/.exec(line)?.[0].startsWith(name));
}

type Direction = 'to-server' | 'to-client';
/** Sessions' backends, as the tests open them (`session:open` is what sessions publish first). */
const backendOf = new Map<string, string>();
const start = (
  sessionId: string,
  method: string,
  id: number | string,
  direction: Direction = 'to-server',
) =>
  channels.requestStart.publish({
    sessionId,
    direction,
    method,
    id,
    backend: backendOf.get(sessionId) ?? 'unknown',
  });
const end = (
  sessionId: string,
  method: string,
  id: number | string,
  durationMs: number,
  error?: string | number,
  direction: Direction = 'to-server',
) =>
  channels.requestEnd.publish({
    sessionId,
    direction,
    method,
    id,
    durationMs,
    error,
    backend: backendOf.get(sessionId) ?? 'unknown',
    route: undefined,
  });

const BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

function histogram(labels: string, bucketCounts: number[], sum: number, count: number) {
  const name = 'mcp_gateway_request_duration_seconds';
  return [
    ...BOUNDS.map((le, i) => `${name}_bucket{le="${le}",${labels}} ${bucketCounts[i]}`),
    `${name}_bucket{le="+Inf",${labels}} ${count}`,
    `${name}_sum{${labels}} ${sum}`,
    `${name}_count{${labels}} ${count}`,
  ];
}

describe('createMetrics', () => {
  it('counts requests by method, backend, status and direction, with their durations', async () => {
    await withMetrics(async (metrics) => {
      channels.sessionOpen.publish({
        sessionId: 's1',
        transport: 'streamable-http',
        backend: 'everything',
      });
      backendOf.set('s1', 'everything');
      start('s1', 'tools/call', 1);
      start('s1', 'ping', 2);
      start('s2', 'tools/list', 1); // a session that has not opened: backend `unknown`
      end('s1', 'tools/call', 1, 5); // 0.005 s: on the first bound, so in its bucket
      end('s1', 'ping', 2, 400_000, -32601); // beyond the last bound: only in +Inf
      end('s1', 'tools/call', 3, 30, 'GATEWAY_TIMEOUT'); // never seen to start
      end('s1', 'bogus/method', 4, 1);

      expect(await samples(metrics, 'mcp_gateway_requests_total')).toEqual([
        'mcp_gateway_requests_total{method="tools/call",backend="everything",status="ok",direction="to-server"} 1',
        'mcp_gateway_requests_total{method="ping",backend="everything",status="-32601",direction="to-server"} 1',
        'mcp_gateway_requests_total{method="tools/call",backend="everything",status="GATEWAY_TIMEOUT",direction="to-server"} 1',
        'mcp_gateway_requests_total{method="other",backend="everything",status="ok",direction="to-server"} 1',
      ]);
      const labels = (method: string, status = 'ok') =>
        `method="${method}",backend="everything",direction="to-server",status="${status}"`;
      expect(await samples(metrics, 'mcp_gateway_request_duration_seconds')).toEqual([
        ...histogram(labels('tools/call'), Array<number>(14).fill(1), 0.005, 1),
        ...histogram(labels('ping', 'error'), Array<number>(14).fill(0), 400, 1),
        ...histogram(
          labels('tools/call', 'error'),
          [0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
          0.03,
          1,
        ),
        ...histogram(labels('other'), [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], 0.001, 1),
      ]);
      // Ending a request that was never seen to start leaves the gauge alone.
      expect(await samples(metrics, 'mcp_gateway_requests_in_flight')).toEqual([
        'mcp_gateway_requests_in_flight{backend="everything"} 0',
        'mcp_gateway_requests_in_flight{backend="unknown"} 1',
      ]);
      expect(metrics.snapshot()).toEqual({
        backends: {
          everything: { requests: 4, errors: 2, durationMs: 400_036, inFlight: 0 },
          unknown: { requests: 0, errors: 0, durationMs: 0, inFlight: 1 },
        },
        breakers: {},
        rateLimited: 0,
        authFailures: 0,
      });
      end('s2', 'tools/list', 1, 2);
      expect(await samples(metrics, 'mcp_gateway_requests_in_flight')).toEqual([
        'mcp_gateway_requests_in_flight{backend="everything"} 0',
        'mcp_gateway_requests_in_flight{backend="unknown"} 0',
      ]);
      // A second scrape prints the same counts, not twice them.
      expect(await samples(metrics, 'mcp_gateway_requests_total')).toEqual([
        'mcp_gateway_requests_total{method="tools/call",backend="everything",status="ok",direction="to-server"} 1',
        'mcp_gateway_requests_total{method="ping",backend="everything",status="-32601",direction="to-server"} 1',
        'mcp_gateway_requests_total{method="tools/call",backend="everything",status="GATEWAY_TIMEOUT",direction="to-server"} 1',
        'mcp_gateway_requests_total{method="other",backend="everything",status="ok",direction="to-server"} 1',
        'mcp_gateway_requests_total{method="tools/list",backend="unknown",status="ok",direction="to-server"} 1',
      ]);
    });
  });

  it('tells in-flight requests apart by session, direction and id', async () => {
    await withMetrics(async (metrics) => {
      start('a', 'ping', 1);
      start('b', 'ping', 1);
      start('a', 'ping', 1, 'to-client');
      end('b', 'ping', 1, 1);
      end('a', 'ping', 1, 1, undefined, 'to-client');
      expect(await samples(metrics, 'mcp_gateway_requests_in_flight')).toEqual([
        'mcp_gateway_requests_in_flight{backend="unknown"} 1',
      ]);
      end('a', 'ping', 1, 1);
      end('a', 'ping', 1, 1); // a second end of the same request
      expect(await samples(metrics, 'mcp_gateway_requests_in_flight')).toEqual([
        'mcp_gateway_requests_in_flight{backend="unknown"} 0',
      ]);
    });
  });

  // The dashboard showed -3 in flight: requests were counted in under `unknown` (before the
  // session had opened) and out under the backend's name.
  it('keeps the in-flight gauge from going negative when a request is routed after it started', async () => {
    await withMetrics(async (metrics) => {
      channels.requestStart.publish({
        sessionId: 'agg',
        direction: 'to-server',
        method: 'tools/call',
        id: 1,
        backend: '*',
      });
      channels.requestEnd.publish({
        sessionId: 'agg',
        direction: 'to-server',
        method: 'tools/call',
        id: 1,
        backend: 'files',
        route: { backend: 'files', name: 'read' },
        durationMs: 1,
        error: undefined,
      });
      expect(await samples(metrics, 'mcp_gateway_requests_in_flight')).toEqual([
        'mcp_gateway_requests_in_flight{backend="*"} 0',
      ]);
      expect(metrics.snapshot().backends['*']?.inFlight).toBe(0);
      expect(metrics.snapshot().backends.files?.requests).toBe(1);
    });
  });

  // The key string `${sessionId}\0${direction}\0${String(id)}` made these one request: the
  // gauge went up twice, came down once, and stayed at 1.
  it('does not leave the in-flight gauge up when an id is in flight twice, or as 1 and "1"', async () => {
    await withMetrics(async (metrics) => {
      start('a', 'ping', 7);
      start('a', 'ping', 7);
      start('a', 'ping', 1);
      start('a', 'ping', '1');
      end('a', 'ping', 7, 1);
      end('a', 'ping', 7, 1);
      end('a', 'ping', '1', 1);
      end('a', 'ping', 1, 1);
      expect(await samples(metrics, 'mcp_gateway_requests_in_flight')).toEqual([
        'mcp_gateway_requests_in_flight{backend="unknown"} 0',
      ]);
      expect(metrics.snapshot().backends.unknown?.inFlight).toBe(0);
    });
  });

  it('counts connections and payload bytes by transport and direction, and WebSocket frames', async () => {
    await withMetrics(async (metrics) => {
      channels.connectionOpen.publish({ transport: 'streamable-http' });
      channels.connectionOpen.publish({ transport: 'websocket' });
      channels.connectionOpen.publish({ transport: 'streamable-http' });
      channels.connectionClose.publish({ transport: 'streamable-http' });
      channels.connectionClose.publish({ transport: 'unix' }); // opened before we subscribed
      channels.bytes.publish({ transport: 'streamable-http', direction: 'in', bytes: 120 });
      channels.bytes.publish({ transport: 'websocket', direction: 'out', bytes: 7 });
      channels.bytes.publish({ transport: 'streamable-http', direction: 'out', bytes: 300 });
      channels.bytes.publish({ transport: 'websocket', direction: 'out', bytes: 8 });
      channels.bytes.publish({ transport: 'websocket', direction: 'in', bytes: 0 });
      channels.bytes.publish({ transport: 'streamable-http', direction: 'in', bytes: 5 });
      channels.bytes.publish({ transport: 'tcp', direction: 'in', bytes: 40 });
      channels.bytes.publish({ transport: 'tcp', direction: 'in', bytes: 2 });

      expect(await samples(metrics, 'mcp_gateway_connections_')).toEqual([
        'mcp_gateway_connections_active{transport="streamable-http"} 1',
        'mcp_gateway_connections_active{transport="websocket"} 1',
        'mcp_gateway_connections_active{transport="unix"} -1',
        'mcp_gateway_connections_total{transport="streamable-http"} 2',
        'mcp_gateway_connections_total{transport="websocket"} 1',
      ]);
      expect(await samples(metrics, 'mcp_gateway_bytes_total')).toEqual([
        'mcp_gateway_bytes_total{transport="streamable-http",direction="in"} 125',
        'mcp_gateway_bytes_total{transport="websocket",direction="out"} 15',
        'mcp_gateway_bytes_total{transport="streamable-http",direction="out"} 300',
        'mcp_gateway_bytes_total{transport="websocket",direction="in"} 0',
        'mcp_gateway_bytes_total{transport="tcp",direction="in"} 42',
      ]);
      expect(await samples(metrics, 'mcp_gateway_tcp_messages_')).toEqual([
        'mcp_gateway_tcp_messages_total{direction="inbound",type="request"} 2',
      ]);
      expect(await samples(metrics, 'mcp_gateway_tcp_bytes_')).toEqual([
        'mcp_gateway_tcp_bytes_total{direction="inbound"} 42',
      ]);
      expect(await samples(metrics, 'mcp_gateway_websocket_')).toEqual([
        'mcp_gateway_websocket_messages_total{direction="outbound",type="text"} 2',
        'mcp_gateway_websocket_messages_total{direction="inbound",type="text"} 1',
        'mcp_gateway_websocket_bytes_total{direction="outbound"} 15',
        'mcp_gateway_websocket_bytes_total{direction="inbound"} 0',
      ]);
    });
  });

  it("counts seed 003's families: endpoints, routing errors, rejections, TCP connections, frames and protocol errors", async () => {
    await withMetrics(async (metrics) => {
      channels.sessionOpen.publish({ sessionId: 'agg', transport: 'websocket', backend: '*' });
      backendOf.set('agg', '*');
      end('agg', 'tools/call', 1, 1, -32602); // no backend offers the name
      end('agg', 'tools/list', 2, 1, 'GATEWAY_BACKEND_UNAVAILABLE');
      end('agg', 'tools/call', 3, 1, 'GATEWAY_TIMEOUT'); // routed, then timed out: no routing error
      channels.requestEnd.publish({
        sessionId: 'agg',
        direction: 'to-server',
        method: 'tools/call',
        id: 4,
        durationMs: 1,
        error: undefined,
        backend: 'github',
        route: { backend: 'github', name: 'search' },
      });
      channels.connectionOpen.publish({ transport: 'tcp' });
      channels.connectionOpen.publish({ transport: 'tcp' });
      channels.connectionClose.publish({ transport: 'tcp' });
      channels.connectionRejected.publish({ transport: 'http', reason: 'per_address_limit' });
      channels.frame.publish({ transport: 'tcp', direction: 'in', type: 'health_check' });
      channels.frame.publish({ transport: 'tcp', direction: 'out', type: 'health_check' });
      channels.frame.publish({ transport: 'websocket', direction: 'out', type: 'ping' });
      channels.tcpProtocolError.publish({ type: 'frame_too_large' });
      channels.breakerState.publish({ backend: 'github', state: 'open' });

      expect(await samples(metrics, 'mcp_gateway_endpoint_requests_total')).toEqual([
        'mcp_gateway_endpoint_requests_total{endpoint="*",namespace="*",status="-32602"} 1',
        'mcp_gateway_endpoint_requests_total{endpoint="*",namespace="*",status="GATEWAY_BACKEND_UNAVAILABLE"} 1',
        'mcp_gateway_endpoint_requests_total{endpoint="*",namespace="*",status="GATEWAY_TIMEOUT"} 1',
        'mcp_gateway_endpoint_requests_total{endpoint="github",namespace="*",status="ok"} 1',
      ]);
      expect(await samples(metrics, 'mcp_gateway_routing_errors_total')).toEqual([
        'mcp_gateway_routing_errors_total{reason="unknown_name"} 1',
        'mcp_gateway_routing_errors_total{reason="GATEWAY_BACKEND_UNAVAILABLE"} 1',
      ]);
      expect(await samples(metrics, 'mcp_gateway_tcp_connections_')).toEqual([
        'mcp_gateway_tcp_connections_total 2',
        'mcp_gateway_tcp_connections_active 1',
      ]);
      expect(await samples(metrics, 'mcp_gateway_connections_rejected_total')).toEqual([
        'mcp_gateway_connections_rejected_total{transport="http",reason="per_address_limit"} 1',
      ]);
      expect(await samples(metrics, 'mcp_gateway_tcp_messages_total')).toEqual([
        'mcp_gateway_tcp_messages_total{direction="inbound",type="health_check"} 1',
        'mcp_gateway_tcp_messages_total{direction="outbound",type="health_check"} 1',
      ]);
      expect(await samples(metrics, 'mcp_gateway_websocket_messages_total')).toEqual([
        'mcp_gateway_websocket_messages_total{direction="outbound",type="ping"} 1',
      ]);
      expect(await samples(metrics, 'mcp_gateway_tcp_protocol_errors_total')).toEqual([
        'mcp_gateway_tcp_protocol_errors_total{error_type="frame_too_large"} 1',
      ]);
      expect(await samples(metrics, 'mcp_gateway_circuit_breaker_state')).toEqual([
        'mcp_gateway_circuit_breaker_state{backend="github",endpoint="github"} 1',
      ]);
    });
  });

  it('prints every metric with its help and type, counted ones included, before any event', async () => {
    await withMetrics(async (metrics) => {
      const text = await metrics.text();
      expect(text).toContain(
        '# HELP mcp_gateway_request_duration_seconds Time from a request entering the gateway to its reply, by method, backend and status (ok or error)\n' +
          '# TYPE mcp_gateway_request_duration_seconds histogram\n\n',
      );
      expect(text).toContain('# TYPE mcp_gateway_requests_total counter\n\n');
      expect(text).toContain('# TYPE mcp_gateway_requests_in_flight gauge\n\n');
      const json = await metrics.registry.getMetricsAsJSON();
      expect(json.map((m) => m.name).slice(0, 3)).toEqual([
        'mcp_gateway_info',
        'mcp_gateway_requests_total',
        'mcp_gateway_request_duration_seconds',
      ]);
    });
  });

  it('stops counting once unsubscribed, and keeps what it counted', async () => {
    const metrics = createMetrics({ processMetrics: false });
    metrics.subscribe();
    channels.connectionOpen.publish({ transport: 'sse' });
    metrics.unsubscribe();
    channels.connectionOpen.publish({ transport: 'sse' });
    expect(await samples(metrics, 'mcp_gateway_connections_total')).toEqual([
      'mcp_gateway_connections_total{transport="sse"} 1',
    ]);
  });
});
