import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { channels } from '../core/diagnostics.js';
import type { ConnectorLinkEvent, ConnectorRequestEvent } from '../core/diagnostics.js';
import type { Logger } from '../core/logger.js';

/*
 * The connector's Prometheus metrics (opt-in: `metrics.enabled`, or `--metrics-port`), served at
 * http://host:port/metrics with a /health beside it. They subscribe to the connector's
 * diagnostics channels; the connector itself never calls them.
 */

const STATES = ['idle', 'connecting', 'connected', 'reconnecting', 'closed'] as const;

export interface ConnectorMetricsServer {
  address: AddressInfo;
  registry: Registry;
  close(): Promise<void>;
}

export async function serveConnectorMetrics(options: {
  host: string;
  port: number;
  log: Logger;
}): Promise<ConnectorMetricsServer> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const state = new Gauge({
    name: 'mcp_connector_connection_state',
    help: 'The link to the remote: 1 for the state it is in, 0 for the others',
    labelNames: ['state'],
    registers: [registry],
  });
  const up = new Gauge({
    name: 'mcp_connector_connected',
    help: '1 while the link to the remote is up',
    registers: [registry],
  });
  const reconnects = new Counter({
    name: 'mcp_connector_reconnects_total',
    help: 'Links re-established (and sessions restored) after a loss',
    registers: [registry],
  });
  const queueDepth = new Gauge({
    name: 'mcp_connector_queue_depth',
    help: 'Client requests waiting for the link',
    registers: [registry],
  });
  const inFlight = new Gauge({
    name: 'mcp_connector_requests_in_flight',
    help: 'Client requests sent to the remote and not yet answered',
    registers: [registry],
  });
  const requests = new Counter({
    name: 'mcp_connector_requests_total',
    help: 'Client requests answered, by method and outcome (ok, error, or the connector error code)',
    labelNames: ['method', 'outcome'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'mcp_connector_request_duration_seconds',
    help: 'From a client request reaching the connector to its reply leaving it, queue wait included',
    labelNames: ['method'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  for (const name of STATES) state.set({ state: name }, name === 'idle' ? 1 : 0);
  const router = routerMetrics(registry);

  let seenReconnects = 0;
  let current: ConnectorLinkEvent | undefined;
  const onLink = (event: ConnectorLinkEvent) => {
    current = event;
    for (const name of STATES) state.set({ state: name }, name === event.state ? 1 : 0);
    up.set(event.state === 'connected' ? 1 : 0);
    router.activeConnections.set(event.state === 'connected' ? 1 : 0);
    if (event.reconnects > seenReconnects) {
      reconnects.inc(event.reconnects - seenReconnects);
      router.retries.inc(event.reconnects - seenReconnects);
    }
    seenReconnects = event.reconnects;
    queueDepth.set(event.queueDepth);
    inFlight.set(event.inFlight);
  };
  const onRequest = (event: ConnectorRequestEvent) => {
    // Methods are the client's words: any name outside MCP's own is counted as `other`, so that
    // a client cannot grow the label set without bound.
    const method =
      /^[a-z]+(\/[a-zA-Z]+)*$/.test(event.method) && event.method.length <= 40
        ? event.method
        : 'other';
    requests.inc({ method, outcome: event.outcome });
    latency.observe({ method }, event.durationMs / 1000);
    router.requests.inc();
    router.responses.inc();
    if (event.outcome !== 'ok') router.errors.inc();
    router.duration.observe(event.durationMs / 1000);
  };
  channels.connectorLink.subscribe(onLink);
  channels.connectorRequest.subscribe(onRequest);

  const server = createServer((req, res): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'application/json' });
      res.end('{"error":"method not allowed"}');
      return;
    }
    if (path === '/metrics') {
      registry
        .metrics()
        .then((text) => {
          res.writeHead(200, { 'Content-Type': registry.contentType });
          res.end(text);
        })
        .catch(() => {
          res.writeHead(500, { 'Content-Type': 'application/json' });
          res.end('{"error":"metrics unavailable"}');
        });
      return;
    }
    if (path === '/health') {
      const state = current?.state ?? 'idle';
      res.writeHead(state === 'connected' || state === 'idle' ? 200 : 503, {
        'Content-Type': 'application/json',
      });
      res.end(
        JSON.stringify({
          status: state === 'connected' || state === 'idle' ? 'healthy' : 'degraded',
          state,
        }),
      );
      return;
    }
    res.writeHead(404, { 'Content-Type': 'application/json' });
    res.end('{"error":"not found: the connector serves /metrics and /health"}');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  options.log.info({ host: address.address, port: address.port }, 'connector metrics at /metrics');
  return {
    address,
    registry,
    close: () =>
      new Promise<void>((resolve) => {
        channels.connectorLink.unsubscribe(onLink);
        channels.connectorRequest.unsubscribe(onRequest);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The seed router's metric names (seed 004: `mcp_router_*`, without labels), so that its
 * dashboards and alerts keep working: the same counts as the `mcp_connector_*` ones.
 */
function routerMetrics(registry: Registry) {
  const registers = [registry];
  return {
    requests: new Counter({
      name: 'mcp_router_requests_total',
      help: 'Client requests carried (seed router name; see mcp_connector_requests_total)',
      registers,
    }),
    responses: new Counter({
      name: 'mcp_router_responses_total',
      help: 'Replies sent to the client, errors included (seed router name)',
      registers,
    }),
    errors: new Counter({
      name: 'mcp_router_errors_total',
      help: 'Replies that were errors, from the remote or the connector (seed router name)',
      registers,
    }),
    duration: new Histogram({
      name: 'mcp_router_request_duration_seconds',
      help: 'From a client request to its reply, queue wait included (seed router name)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    activeConnections: new Gauge({
      name: 'mcp_router_active_connections',
      help: '1 while the link to the remote is up (seed router name; see mcp_connector_connected)',
      registers,
    }),
    retries: new Counter({
      name: 'mcp_router_connection_retries_total',
      help: 'Links re-established after a loss (seed router name; see mcp_connector_reconnects_total)',
      registers,
    }),
  };
}
