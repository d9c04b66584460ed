import { channels } from '../core/diagnostics.js';
import type { BackendState, RequestEndEvent, SessionCloseEvent } from '../core/diagnostics.js';
import type { Policy } from '../core/policy.js';
import type { BackendReport } from '../http/ops.js';

/*
 * The dashboard's recent past: every few seconds, per backend, the requests and errors per second
 * and the p50 and p99 latency of the requests that ended in that interval, with the sessions and
 * processes open at its end; kept for the last minutes in a ring. Also what a backend's detail
 * shows (its state changes, its last errors) and the name each session's client gave in its
 * `initialize`. Counted from the core's diagnostics events like the metrics; nothing here is on
 * the message path but the one-line policy that reads `initialize`.
 */

export interface HistoryOptions {
  /** How often a sample is taken. @default 2000 */
  intervalMs?: number;
  /** How many samples are kept (the default: ten minutes). @default 300 */
  points?: number;
}

/** One backend in one interval. Latencies are null when no request ended in it. */
export interface BackendPoint {
  requestsPerSecond: number;
  errorsPerSecond: number;
  p50Ms: number | null;
  p99Ms: number | null;
  sessions: number;
  processes: number;
}

export interface Sample {
  /** The interval's end, ms since the epoch. */
  time: number;
  /** By backend; `*` is what the aggregated endpoint answered itself (its lists, say). */
  backends: Record<string, BackendPoint>;
  sessions: number;
  processes: number;
}

export interface StateChange {
  time: number;
  state: BackendState['state'];
  restarts: number;
}

export interface RecentError {
  time: number;
  method: string;
  /** The gateway's error code, or the JSON-RPC code of the backend's error. */
  error: string | number;
}

/** What the sampler reads of the gateway at each interval's end. */
export interface HistorySource {
  backends(): BackendReport[];
  sessions(): readonly unknown[];
}

export interface History {
  /** Reads `initialize` for the client's name; in the gateway-wide chain. */
  readonly policy: Policy;
  /** Starts counting and sampling `source`. */
  start(source: HistorySource): void;
  stop(): void;
  readonly intervalMs: number;
  /** The samples taken after `since` (ms since the epoch), oldest first. */
  samples(since?: number): Sample[];
  states(backend: string): StateChange[];
  errors(backend: string): RecentError[];
  /** `name version` from the session's `initialize`, if it gave one. */
  client(sessionId: string): string | undefined;
}

/** Ended requests one interval keeps per backend for its quantiles; more are counted, not timed. */
const MAX_TIMED = 4096;
const MAX_STATES = 20;
const MAX_ERRORS = 10;

interface Interval {
  requests: number;
  errors: number;
  durations: number[];
}

/** The value below which `q` of the sorted values fall (nearest rank). */
function quantile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return Math.round(sorted[rank]! * 100) / 100;
}

const pushBounded = <T>(list: T[], item: T, max: number) => {
  list.push(item);
  if (list.length > max) list.splice(0, list.length - max);
};

export function createHistory(options: HistoryOptions = {}): History {
  const intervalMs = options.intervalMs ?? 2000;
  const points = options.points ?? 300;
  const ring: Sample[] = [];
  let current = new Map<string, Interval>();
  let last = Date.now();
  const states = new Map<string, StateChange[]>();
  const errors = new Map<string, RecentError[]>();
  const clients = new Map<string, string>();
  let timer: NodeJS.Timeout | undefined;
  let source: HistorySource | undefined;

  const onEnd = (e: RequestEndEvent) => {
    // What clients asked of servers; a server's own requests (sampling…) are not its load.
    if (e.direction !== 'to-server') return;
    const backend = e.route?.backend ?? e.backend;
    let interval = current.get(backend);
    if (!interval) current.set(backend, (interval = { requests: 0, errors: 0, durations: [] }));
    interval.requests++;
    if (interval.durations.length < MAX_TIMED) interval.durations.push(e.durationMs);
    if (e.error !== undefined) {
      interval.errors++;
      let list = errors.get(backend);
      if (!list) errors.set(backend, (list = []));
      pushBounded(list, { time: Date.now(), method: e.method, error: e.error }, MAX_ERRORS);
    }
  };
  const onState = (e: BackendState) => {
    let list = states.get(e.backend);
    if (!list) states.set(e.backend, (list = []));
    const previous = list.at(-1);
    if (previous?.state === e.state && previous.restarts === e.restarts) return;
    pushBounded(list, { time: Date.now(), state: e.state, restarts: e.restarts }, MAX_STATES);
  };
  const onClose = (e: SessionCloseEvent) => clients.delete(e.sessionId);

  function sample(): void {
    const now = Date.now();
    const seconds = Math.max((now - last) / 1000, 0.001);
    last = now;
    const ended = current;
    current = new Map();
    const reports = source?.backends() ?? [];
    const backends: Record<string, BackendPoint> = {};
    const names = new Set([...reports.map((r) => r.name), ...ended.keys()]);
    for (const name of names) {
      const interval = ended.get(name);
      const report = reports.find((r) => r.name === name);
      const sorted = interval ? interval.durations.sort((a, b) => a - b) : [];
      backends[name] = {
        requestsPerSecond: Math.round(((interval?.requests ?? 0) / seconds) * 100) / 100,
        errorsPerSecond: Math.round(((interval?.errors ?? 0) / seconds) * 100) / 100,
        p50Ms: quantile(sorted, 0.5),
        p99Ms: quantile(sorted, 0.99),
        sessions: report?.sessions ?? 0,
        processes: report?.processes ?? 0,
      };
    }
    pushBounded(
      ring,
      {
        time: now,
        backends,
        sessions: source?.sessions().length ?? 0,
        processes: reports.reduce((n, r) => n + r.processes, 0),
      },
      points,
    );
  }

  return {
    intervalMs,
    policy: async (ctx, next) => {
      if (ctx.message.method === 'initialize' && ctx.session) {
        const info = (ctx.message.params as { clientInfo?: { name?: unknown; version?: unknown } })
          ?.clientInfo;
        if (typeof info?.name === 'string')
          clients.set(
            ctx.session.id,
            typeof info.version === 'string' ? `${info.name} ${info.version}` : info.name,
          );
      }
      return next();
    },
    start(from) {
      if (timer) return;
      source = from;
      last = Date.now();
      channels.requestEnd.subscribe(onEnd);
      channels.backendState.subscribe(onState);
      channels.sessionClose.subscribe(onClose);
      for (const b of from.backends())
        onState({ backend: b.name, state: b.state, restarts: b.restarts });
      timer = setInterval(sample, intervalMs);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
      channels.requestEnd.unsubscribe(onEnd);
      channels.backendState.unsubscribe(onState);
      channels.sessionClose.unsubscribe(onClose);
    },
    samples: (since = 0) => ring.filter((s) => s.time > since),
    states: (backend) => states.get(backend) ?? [],
    errors: (backend) => errors.get(backend) ?? [],
    client: (sessionId) => clients.get(sessionId),
  };
}
