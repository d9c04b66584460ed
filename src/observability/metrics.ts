import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { addSeries, countedCounter, countedGauge, countedHistogram } from './counted-metrics.js';
import type { Series } from './counted-metrics.js';
import { channels } from '../core/diagnostics.js';
import type { BackendReport } from '../http/ops.js';
import { version } from '../version.js';
import { methodLabel } from './mcp-names.js';
import {
  BACKEND_STATES,
  BREAKER_VALUE,
  DURATION_BUCKETS,
  JSONRPC_FRAME_TYPE,
  ROUTING_ERRORS,
  SEED_DIRECTION,
  on,
} from './metrics-tables.js';
import type {
  BackendRecord,
  BackendTotals,
  PendingRequest,
  TransportRecord,
} from './metrics-tables.js';

/*
 * Prometheus metrics, every one of them counted from the diagnostics channels the core publishes
 * (src/core/diagnostics.ts): nothing here is called from the message path, and with no metrics
 * object subscribed the core pays one property read per event. Names follow the seed gateway's
 * `mcp_gateway_*` list where one fits. Each Metrics object has a Registry of its own, so several
 * gateways in one process (tests) do not collide; the channels themselves are process-wide, so
 * each Metrics object counts the events of every gateway in its process.
 *
 * The events of every request (request start and end, bytes, connections) are counted here in
 * plain numbers, one `Series` per label set found through Maps keyed by label value, and handed to
 * prom-client only when the registry is read (its `collect()` hook): prom-client hashes and
 * validates the labels on every `inc` and `observe`, which cost more CPU than the session core.
 * Rare events (sessions, processes, states, refusals) still go to prom-client directly.
 */

export interface MetricsOptions {
  /** Also export the process's own metrics (`process_*`, `nodejs_*`: CPU, memory, event loop, GC). @default true */
  processMetrics?: boolean;
}

export type { BackendTotals } from './metrics-tables.js';

export interface MetricsSnapshot {
  backends: Record<string, BackendTotals>;
  /** Circuit breaker per backend, as last published: `closed`, `open` or `half-open`. */
  breakers: Record<string, string>;
  rateLimited: number;
  authFailures: number;
}

export interface Metrics {
  readonly registry: Registry;
  /** Starts counting. Safe to call more than once. */
  subscribe(): void;
  /** Stops counting (the registry keeps its values). Safe to call more than once. */
  unsubscribe(): void;
  /**
   * Fills in backends the events have not mentioned yet (state `unknown`, say), from the gateway's
   * view; with `breakers`, their circuit breakers as closed (a breaker is made closed, on first use).
   */
  seedBackends(backends: readonly BackendReport[], breakers?: boolean): void;
  snapshot(): MetricsSnapshot;
  /** The text a Prometheus scrape gets. */
  text(): Promise<string>;
}

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];

  new Gauge({
    name: 'mcp_gateway_info',
    help: 'Always 1; the version label says which mcp-bridge is running',
    labelNames: ['version'],
    registers,
  }).set({ version }, 1);
  const requests = countedCounter({
    name: 'mcp_gateway_requests_total',
    help: 'JSON-RPC requests that ended, by method, backend (`*`: the aggregated endpoint) and status (`ok` or the error code)',
    labelNames: ['method', 'backend', 'status', 'direction'],
    registers,
  });
  const durations = countedHistogram({
    name: 'mcp_gateway_request_duration_seconds',
    help: 'Time from a request entering the gateway to its reply, by method, backend and status (ok or error)',
    buckets: DURATION_BUCKETS,
    registry,
  });
  const inFlight = countedGauge({
    name: 'mcp_gateway_requests_in_flight',
    help: 'Requests being processed, by backend',
    labelNames: ['backend'],
    registers,
  });
  const sessionsActive = new Gauge({
    name: 'mcp_gateway_sessions_active',
    help: 'Open client sessions, by client transport and backend',
    labelNames: ['transport', 'backend'],
    registers,
  });
  const sessionsTotal = new Counter({
    name: 'mcp_gateway_sessions_total',
    help: 'Client sessions opened, by client transport and backend',
    labelNames: ['transport', 'backend'],
    registers,
  });
  const connectionsActive = countedGauge({
    name: 'mcp_gateway_connections_active',
    help: 'Open client connections (HTTP exchanges and streams, WebSockets, sockets), by transport',
    labelNames: ['transport'],
    registers,
  });
  const connectionsTotal = countedCounter({
    name: 'mcp_gateway_connections_total',
    help: 'Client connections opened, by transport',
    labelNames: ['transport'],
    registers,
  });
  const connectionsRejected = new Counter({
    name: 'mcp_gateway_connections_rejected_total',
    help: 'Client connections refused before any session, by transport and reason (per_address_limit, per_ip_limit, shutting_down)',
    labelNames: ['transport', 'reason'],
    registers,
  });
  // The seed's TCP connection pair, without labels as it has them (also in mcp_gateway_connections_*).
  const tcpConnectionsTotal = addSeries(
    countedCounter({
      name: 'mcp_gateway_tcp_connections_total',
      help: 'Framed TCP connections opened',
      registers,
    }),
    {},
  );
  const tcpConnectionsActive = addSeries(
    countedGauge({
      name: 'mcp_gateway_tcp_connections_active',
      help: 'Framed TCP connections open',
      registers,
    }),
    {},
  );
  const endpointRequests = countedCounter({
    name: 'mcp_gateway_endpoint_requests_total',
    help: 'Requests that ended, by the backend that served them (endpoint), the backend or `*` the session is bound to (namespace) and status',
    labelNames: ['endpoint', 'namespace', 'status'],
    registers,
  });
  const routingErrors = new Counter({
    name: 'mcp_gateway_routing_errors_total',
    help: 'Requests that found no backend to serve them, by reason (the gateway error code, or unknown_name)',
    labelNames: ['reason'],
    registers,
  });
  const tcpProtocolErrors = new Counter({
    name: 'mcp_gateway_tcp_protocol_errors_total',
    help: 'Framed TCP connections closed for breaking the protocol, by error type (frame_too_large, bad_magic, …; health_* on the health port)',
    labelNames: ['error_type'],
    registers,
  });
  const bytes = countedCounter({
    name: 'mcp_gateway_bytes_total',
    help: 'JSON-RPC payload bytes crossing the client-facing side, by transport and direction (in: from clients)',
    labelNames: ['transport', 'direction'],
    registers,
  });
  // The seed's families for WebSocket and framed TCP, with its label values (inbound, outbound).
  const wsMessages = countedCounter({
    name: 'mcp_gateway_websocket_messages_total',
    help: 'WebSocket frames, by direction (inbound, outbound) and type (text: JSON-RPC; ping, pong, binary)',
    labelNames: ['direction', 'type'],
    registers,
  });
  const wsBytes = countedCounter({
    name: 'mcp_gateway_websocket_bytes_total',
    help: 'WebSocket payload bytes of JSON-RPC frames, by direction (inbound, outbound)',
    labelNames: ['direction'],
    registers,
  });
  const tcpMessages = countedCounter({
    name: 'mcp_gateway_tcp_messages_total',
    help: 'Framed TCP frames, by direction (inbound, outbound) and type (request, response, health_check, version_negotiation, version_ack, control, error)',
    labelNames: ['direction', 'type'],
    registers,
  });
  const tcpBytes = countedCounter({
    name: 'mcp_gateway_tcp_bytes_total',
    help: 'Framed TCP payload bytes of JSON-RPC frames, by direction (inbound, outbound)',
    labelNames: ['direction'],
    registers,
  });
  /** Per transport with frame metrics of its own: its two families. */
  const framedFamilies = {
    websocket: { messages: wsMessages, bytes: wsBytes },
    tcp: { messages: tcpMessages, bytes: tcpBytes },
  } as const;
  const processesStarted = new Counter({
    name: 'mcp_gateway_backend_processes_started_total',
    help: 'stdio backend processes started, by backend',
    labelNames: ['backend'],
    registers,
  });
  const processesExited = new Counter({
    name: 'mcp_gateway_backend_processes_exited_total',
    help: 'stdio backend processes that ended, by backend and how (`clean`: code 0, `error`: another code, `signal`)',
    labelNames: ['backend', 'how'],
    registers,
  });
  const processesRunning = new Gauge({
    name: 'mcp_gateway_backend_processes_running',
    help: 'stdio backend processes running, by backend',
    labelNames: ['backend'],
    registers,
  });
  const backendState = new Gauge({
    name: 'mcp_gateway_backend_state',
    help: 'Backend state: 1 for the state the backend is in, 0 for the others',
    labelNames: ['backend', 'state'],
    registers,
  });
  const backendRestarts = new Counter({
    name: 'mcp_gateway_backend_restarts_total',
    help: 'Times the gateway restarted a failed backend connection, by backend',
    labelNames: ['backend'],
    registers,
  });
  const breakerState = new Gauge({
    name: 'mcp_gateway_circuit_breaker_state',
    help: "Circuit breaker state by backend (endpoint, the seed's label, names it too): 0 closed, 1 open, 2 half-open",
    labelNames: ['backend', 'endpoint'],
    registers,
  });
  const rateLimited = new Counter({
    name: 'mcp_gateway_rate_limit_exceeded_total',
    help: 'Requests or connections refused by a rate limit, by scope (the key itself is not a label: it is unbounded)',
    labelNames: ['scope'],
    registers,
  });
  const rateLimitStore = new Gauge({
    name: 'mcp_gateway_rate_limit_store',
    help: 'Where rate limits are counted now: 1 for the store in use (redis, or memory when Redis is not configured or lost)',
    labelNames: ['store'],
    registers,
  });
  const authFailures = new Counter({
    name: 'mcp_gateway_auth_failures_total',
    help: 'Failed authentications, by reason and transport',
    labelNames: ['reason', 'transport'],
    registers,
  });

  const cacheRequests = new Counter({
    name: 'mcp_gateway_cache_requests_total',
    help: 'Cacheable requests looked up in the response cache, by backend, method and result (hit or miss)',
    labelNames: ['backend', 'method', 'result'],
    registers,
  });
  const cacheInvalidations = new Counter({
    name: 'mcp_gateway_cache_invalidations_total',
    help: "Cached results dropped by a backend's change notification, by backend and notification",
    labelNames: ['backend', 'notification'],
    registers,
  });

  /** sessionId → where it goes, from session:open; session:close and request events lack it. */
  const sessions = new Map<string, { transport: string; backend: string }>();
  /**
   * Requests started and not yet ended, so that one we saw only half of never skews the gauge:
   * by id (most clients count from 1, so an id is often in flight in several sessions at once),
   * then a list by session and direction. No key string to build on every event.
   */
  const pending = new Map<unknown, PendingRequest>();
  const pids = new Map<string, number | undefined>();
  const restartsSeen = new Map<string, number>();
  /** By backend name, in the order the request events met them (the snapshot keeps it). */
  const backendRecords = new Map<string, BackendRecord>();
  const transports = new Map<string, TransportRecord>();
  /** The seed's frames that carry no JSON-RPC (rare), by transport, direction and type. */
  const otherFrames = new Map<string, Series<'direction' | 'type'>>();
  const breakers = new Map<string, string>();
  const counts = { rateLimited: 0, authFailures: 0 };

  const recordOf = (backend: string) => {
    let r = backendRecords.get(backend);
    if (!r) {
      const totals = { requests: 0, errors: 0, durationMs: 0, inFlight: 0 };
      r = { totals, inFlight: undefined, durations: new Map(), endpoints: new Map() };
      backendRecords.set(backend, r);
    }
    return r;
  };
  const transportOf = (transport: string) => {
    let t = transports.get(transport);
    if (!t) {
      t = { active: undefined, total: undefined, bytes: new Map(), framed: new Map() };
      transports.set(transport, t);
    }
    return t;
  };
  /** Takes the request off `pending`: the record it was counted in under, if we saw it start. */
  const endPending = (sessionId: string, direction: string, id: unknown) => {
    let previous: PendingRequest | undefined;
    for (let p = pending.get(id); p; previous = p, p = p.next) {
      if (p.sessionId !== sessionId || p.direction !== direction) continue;
      if (previous) previous.next = p.next;
      else if (p.next) pending.set(id, p.next);
      else pending.delete(id);
      return p.record;
    }
    return undefined;
  };
  const durationOf = (
    r: BackendRecord,
    method: string,
    backend: string,
    direction: string,
    failed: boolean,
  ) => {
    let byMethod = r.durations.get(direction);
    if (!byMethod) r.durations.set(direction, (byMethod = new Map()));
    let outcomes = byMethod.get(method);
    if (!outcomes) byMethod.set(method, (outcomes = { ok: undefined, error: undefined }));
    const status = failed ? 'error' : 'ok';
    let d = outcomes[status];
    if (!d) {
      d = {
        labels: { method, backend, direction, status },
        buckets: DURATION_BUCKETS.map(() => 0),
        sum: 0,
        count: 0,
        requests: new Map(),
      };
      outcomes[status] = d;
      durations.push(d);
    }
    return d;
  };
  const endpointOf = (r: BackendRecord, endpoint: string, namespace: string, status: string) => {
    let byStatus = r.endpoints.get(namespace);
    if (!byStatus) r.endpoints.set(namespace, (byStatus = new Map()));
    let series = byStatus.get(status);
    if (!series) {
      series = addSeries(endpointRequests, { endpoint, namespace, status });
      byStatus.set(status, series);
    }
    return series;
  };
  const framedOf = (t: TransportRecord, transport: 'websocket' | 'tcp', direction: string) => {
    let frames = t.framed.get(direction);
    if (!frames) {
      const families = framedFamilies[transport];
      const seedDirection = SEED_DIRECTION[direction]!;
      frames = {
        messages: addSeries(families.messages, {
          direction: seedDirection,
          type: JSONRPC_FRAME_TYPE[transport]![direction]!,
        }),
        bytes: addSeries(families.bytes, { direction: seedDirection }),
      };
      t.framed.set(direction, frames);
    }
    return frames;
  };
  const setState = (backend: string, state: string) => {
    for (const s of BACKEND_STATES) backendState.set({ backend, state: s }, s === state ? 1 : 0);
  };

  const subscriptions = [
    on(channels.sessionOpen, (e) => {
      const labels = { transport: e.transport, backend: e.backend };
      sessions.set(e.sessionId, labels);
      sessionsActive.inc(labels);
      sessionsTotal.inc(labels);
    }),
    on(channels.sessionClose, ({ sessionId }) => {
      const labels = sessions.get(sessionId);
      // A session that failed to start closes without having opened.
      if (!labels) return;
      sessions.delete(sessionId);
      sessionsActive.dec(labels);
    }),
    on(channels.requestStart, ({ sessionId, direction, id, backend }) => {
      // Counted in and out under the backend known at the start (an aggregated request is
      // routed later), so the gauge never goes below zero.
      const r = recordOf(backend);
      pending.set(id, { sessionId, direction, record: r, next: pending.get(id) });
      (r.inFlight ??= addSeries(inFlight, { backend })).value++;
      r.totals.inFlight++;
    }),
    on(channels.requestEnd, (e) => {
      const { direction, backend } = e;
      const method = methodLabel(e.method);
      const status = e.error === undefined ? 'ok' : String(e.error);
      const r = recordOf(backend);
      const d = durationOf(r, method, backend, direction, e.error !== undefined);
      let count = d.requests.get(status);
      if (!count) {
        count = addSeries(requests, { method, backend, status, direction });
        d.requests.set(status, count);
      }
      count.value++;
      const seconds = e.durationMs / 1000;
      // The first bucket whose bound is not below the value, as prom-client's findBound.
      let i = 0;
      while (i < DURATION_BUCKETS.length && !(seconds <= DURATION_BUCKETS[i]!)) i++;
      if (i < DURATION_BUCKETS.length) d.buckets[i]!++;
      d.sum += seconds;
      d.count++;
      const t = r.totals;
      t.requests++;
      t.durationMs += e.durationMs;
      if (e.error !== undefined) {
        t.errors++;
        if (ROUTING_ERRORS.has(e.error)) routingErrors.inc({ reason: String(e.error) });
        else if (e.error === -32602 && backend === '*' && e.route === undefined) {
          // The aggregated endpoint's answer to a tool or prompt that no backend offers.
          if (method === 'tools/call' || method === 'prompts/get')
            routingErrors.inc({ reason: 'unknown_name' });
        }
      }
      const namespace = sessions.get(e.sessionId)?.backend ?? backend;
      endpointOf(r, backend, namespace, status).value++;
      const started = endPending(e.sessionId, direction, e.id);
      if (started) {
        started.inFlight!.value--;
        started.totals.inFlight--;
      }
    }),
    on(channels.connectionOpen, ({ transport }) => {
      const t = transportOf(transport);
      (t.active ??= addSeries(connectionsActive, { transport })).value++;
      (t.total ??= addSeries(connectionsTotal, { transport })).value++;
      if (transport === 'tcp') {
        tcpConnectionsTotal.value++;
        tcpConnectionsActive.value++;
      }
    }),
    on(channels.connectionClose, ({ transport }) => {
      const t = transportOf(transport);
      (t.active ??= addSeries(connectionsActive, { transport })).value--;
      if (transport === 'tcp') tcpConnectionsActive.value--;
    }),
    on(channels.connectionRejected, (e) => connectionsRejected.inc({ ...e })),
    on(channels.frame, ({ transport, direction, type }) => {
      const key = `${transport}\0${direction}\0${type}`;
      let series = otherFrames.get(key);
      if (!series) {
        const labels = { direction: SEED_DIRECTION[direction]!, type };
        series = addSeries(framedFamilies[transport].messages, labels);
        otherFrames.set(key, series);
      }
      series.value++;
    }),
    on(channels.tcpProtocolError, ({ type }) => tcpProtocolErrors.inc({ error_type: type })),
    on(channels.bytes, (e) => {
      const { transport, direction } = e;
      const t = transportOf(transport);
      let series = t.bytes.get(direction);
      if (!series) t.bytes.set(direction, (series = addSeries(bytes, { transport, direction })));
      series.value += e.bytes;
      if (transport === 'websocket' || transport === 'tcp') {
        const frames = t.framed.get(direction) ?? framedOf(t, transport, direction);
        frames.messages.value++;
        frames.bytes.value += e.bytes;
      }
    }),
    on(channels.backendSpawn, ({ backend, pid }) => {
      pids.set(`${backend}\0${pid}`, pid);
      processesStarted.inc({ backend });
      processesRunning.inc({ backend });
    }),
    on(channels.backendExit, (e) => {
      const how = e.signal ? 'signal' : e.code === 0 ? 'clean' : 'error';
      processesExited.inc({ backend: e.backend, how });
      if (pids.delete(`${e.backend}\0${e.pid}`)) processesRunning.dec({ backend: e.backend });
    }),
    on(channels.backendState, (e) => {
      setState(e.backend, e.state);
      const seen = restartsSeen.get(e.backend) ?? 0;
      if (e.restarts > seen) backendRestarts.inc({ backend: e.backend }, e.restarts - seen);
      restartsSeen.set(e.backend, Math.max(seen, e.restarts));
    }),
    on(channels.breakerState, (e) => {
      const value = BREAKER_VALUE[e.state];
      if (value === undefined) return;
      breakers.set(e.backend, e.state);
      breakerState.set({ backend: e.backend, endpoint: e.backend }, value);
    }),
    on(channels.rateLimited, (event) => {
      counts.rateLimited++;
      rateLimited.inc({ scope: event.scope });
    }),
    on(channels.rateLimitStore, ({ store }) => {
      rateLimitStore.set({ store }, 1);
      rateLimitStore.set({ store: store === 'redis' ? 'memory' : 'redis' }, 0);
    }),
    on(channels.cacheLookup, (e) => cacheRequests.inc(e)),
    on(channels.cacheInvalidate, (e) => cacheInvalidations.inc(e)),
    on(channels.authFailure, (e) => {
      counts.authFailures++;
      authFailures.inc({ reason: e.reason, transport: e.transport ?? 'unknown' });
    }),
  ];

  let subscribed = false;
  return {
    registry,
    subscribe() {
      if (subscribed) return;
      subscribed = true;
      for (const subscription of subscriptions) subscription.subscribe();
    },
    unsubscribe() {
      if (!subscribed) return;
      subscribed = false;
      for (const subscription of subscriptions) subscription.unsubscribe();
    },
    seedBackends(backends, withBreakers = false) {
      for (const b of backends) {
        if (withBreakers && !breakers.has(b.name)) {
          breakers.set(b.name, 'closed');
          breakerState.set({ backend: b.name, endpoint: b.name }, 0);
        }
        if (!restartsSeen.has(b.name)) {
          setState(b.name, b.state);
          restartsSeen.set(b.name, b.restarts);
          backendRestarts.inc({ backend: b.name }, 0);
        }
      }
    },
    snapshot() {
      return {
        backends: Object.fromEntries(
          [...backendRecords].map(([name, r]) => [name, { ...r.totals }]),
        ),
        breakers: Object.fromEntries(breakers),
        rateLimited: counts.rateLimited,
        authFailures: counts.authFailures,
      };
    },
    text: () => registry.metrics(),
  };
}
