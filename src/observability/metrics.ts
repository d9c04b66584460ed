import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { addSeries, countedCounter, countedGauge, countedHistogram } from './counted-metrics.js';
import type { DurationSeries, Series } from './counted-metrics.js';
import { channels } from '../core/diagnostics.js';
import type { Topic } from '../core/diagnostics.js';
import type { BackendReport } from '../http/ops.js';
import { version } from '../version.js';
import { methodLabel } from './mcp-names.js';

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

/** Totals per backend, for the dashboard (rates and mean latency come from differences between two polls). */
export interface BackendTotals {
  requests: number;
  errors: number;
  /** Sum of request durations, in milliseconds. */
  durationMs: number;
  inFlight: number;
}

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
  /** Fills in backends the events have not mentioned yet (state `unknown`, say), from the gateway's view. */
  seedBackends(backends: readonly BackendReport[]): void;
  snapshot(): MetricsSnapshot;
  /** The text a Prometheus scrape gets. */
  text(): Promise<string>;
}

/** Seconds: from a quick `ping` to a long tool call. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const BACKEND_STATES = ['unknown', 'up', 'down', 'failed', 'failing'] as const;
const BREAKER_VALUE: Readonly<Record<string, number>> = { closed: 0, open: 1, 'half-open': 2 };

/** What the request events of one backend (as `backendOf` names it) update. */
interface BackendRecord {
  readonly totals: BackendTotals;
  inFlight: Series<'backend'> | undefined;
  /** direction → method label → series */
  readonly durations: Map<string, Map<string, DurationSeries>>;
}

/** What the connection and byte events of one client transport update. */
interface TransportRecord {
  active: Series<'transport'> | undefined;
  total: Series<'transport'> | undefined;
  /** direction → series */
  readonly bytes: Map<string, Series<'transport' | 'direction'>>;
}

/** A request in flight, and the next one with the same id. */
interface PendingRequest {
  readonly sessionId: string;
  readonly direction: string;
  /** Where it was counted in flight. */
  readonly record: BackendRecord;
  next: PendingRequest | undefined;
}

/** A subscription to one channel, made now and switched on and off together with the rest. */
function on<T>(topic: Topic<T>, handler: (event: T) => void) {
  return {
    subscribe: () => topic.subscribe(handler),
    unsubscribe: () => topic.unsubscribe(handler),
  };
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
    help: 'Time from a request entering the gateway to its reply, by method and backend',
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
  const bytes = countedCounter({
    name: 'mcp_gateway_bytes_total',
    help: 'JSON-RPC payload bytes crossing the client-facing side, by transport and direction (in: from clients)',
    labelNames: ['transport', 'direction'],
    registers,
  });
  const wsMessages = countedCounter({
    name: 'mcp_gateway_websocket_messages_total',
    help: 'WebSocket text frames carrying JSON-RPC, by direction',
    labelNames: ['direction'],
    registers,
  });
  const wsBytes = countedCounter({
    name: 'mcp_gateway_websocket_bytes_total',
    help: 'WebSocket payload bytes, by direction',
    labelNames: ['direction'],
    registers,
  });
  // The seed's names for the framed TCP protocol (its connections are in mcp_gateway_connections_*).
  const tcpMessages = countedCounter({
    name: 'mcp_gateway_tcp_messages_total',
    help: 'Framed TCP request and response frames carrying JSON-RPC, by direction',
    labelNames: ['direction'],
    registers,
  });
  const tcpBytes = countedCounter({
    name: 'mcp_gateway_tcp_bytes_total',
    help: 'Framed TCP payload bytes of JSON-RPC frames, by direction',
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
    help: 'Circuit breaker state by backend: 0 closed, 1 open, 2 half-open',
    labelNames: ['backend'],
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
  /** transport and direction → its two frame series (WebSocket, TCP) */
  const framed = new Map<string, { messages: Series<'direction'>; bytes: Series<'direction'> }>();
  const breakers = new Map<string, string>();
  const counts = { rateLimited: 0, authFailures: 0 };

  const recordOf = (backend: string) => {
    let r = backendRecords.get(backend);
    if (!r) {
      const totals = { requests: 0, errors: 0, durationMs: 0, inFlight: 0 };
      backendRecords.set(backend, (r = { totals, inFlight: undefined, durations: new Map() }));
    }
    return r;
  };
  const transportOf = (transport: string) => {
    let t = transports.get(transport);
    if (!t) {
      t = { active: undefined, total: undefined, bytes: new Map() };
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
  const durationOf = (r: BackendRecord, method: string, backend: string, direction: string) => {
    let byMethod = r.durations.get(direction);
    if (!byMethod) r.durations.set(direction, (byMethod = new Map()));
    let d = byMethod.get(method);
    if (!d) {
      d = {
        labels: { method, backend, direction },
        buckets: DURATION_BUCKETS.map(() => 0),
        sum: 0,
        count: 0,
        requests: new Map(),
      };
      byMethod.set(method, d);
      durations.push(d);
    }
    return d;
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
      const d = durationOf(r, method, backend, direction);
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
      if (e.error !== undefined) t.errors++;
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
    }),
    on(channels.connectionClose, ({ transport }) => {
      const t = transportOf(transport);
      (t.active ??= addSeries(connectionsActive, { transport })).value--;
    }),
    on(channels.bytes, (e) => {
      const { transport, direction } = e;
      const t = transportOf(transport);
      let series = t.bytes.get(direction);
      if (!series) t.bytes.set(direction, (series = addSeries(bytes, { transport, direction })));
      series.value += e.bytes;
      if (transport === 'websocket' || transport === 'tcp') {
        const key = `${transport}\0${direction}`;
        let frames = framed.get(key);
        if (!frames) {
          const families = framedFamilies[transport];
          frames = {
            messages: addSeries(families.messages, { direction }),
            bytes: addSeries(families.bytes, { direction }),
          };
          framed.set(key, frames);
        }
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
      breakerState.set({ backend: e.backend }, value);
    }),
    on(channels.rateLimited, (event) => {
      counts.rateLimited++;
      rateLimited.inc({ scope: event.scope });
    }),
    on(channels.rateLimitStore, ({ store }) => {
      rateLimitStore.set({ store }, 1);
      rateLimitStore.set({ store: store === 'redis' ? 'memory' : 'redis' }, 0);
    }),
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
    seedBackends(backends) {
      for (const b of backends) {
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
