import type { DurationSeries, Series } from './counted-metrics.js';
import type { Topic } from '../core/diagnostics.js';

/*
 * The label tables and the record shapes of metrics.ts: what each counted event updates, and
 * the seed gateway's label values beside ours.
 */

/** Totals per backend, for the dashboard (rates and mean latency come from differences between two polls). */
export interface BackendTotals {
  requests: number;
  errors: number;
  /** Sum of request durations, in milliseconds. */
  durationMs: number;
  inFlight: number;
}

/** Seconds: from a quick `ping` to a long tool call. */
export const DURATION_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
];
export const BACKEND_STATES = ['unknown', 'up', 'down', 'failed', 'failing'] as const;
export const BREAKER_VALUE: Readonly<Record<string, number>> = {
  closed: 0,
  open: 1,
  'half-open': 2,
};
/** The seed's direction values, for the families that carry its names. */
export const SEED_DIRECTION: Readonly<Record<string, string>> = { in: 'inbound', out: 'outbound' };
/** The `type` of a frame carrying JSON-RPC, by transport and direction. */
export const JSONRPC_FRAME_TYPE: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  websocket: { in: 'text', out: 'text' },
  tcp: { in: 'request', out: 'response' },
};
/**
 * Gateway errors that say a request found nowhere to go (the seed's routing errors); the
 * aggregated endpoint's unknown tool or prompt is `unknown_name`.
 */
export const ROUTING_ERRORS: ReadonlySet<string | number | undefined> = new Set([
  'GATEWAY_BACKEND_UNAVAILABLE',
  'GATEWAY_BACKEND_EXITED',
  'GATEWAY_CIRCUIT_OPEN',
  'GATEWAY_BACKEND_RESTARTED',
  'GATEWAY_CLUSTER_UNAVAILABLE',
  'GATEWAY_NAME_COLLISION',
]);

/** What the request events of one backend (as `backendOf` names it) update. */
export interface BackendRecord {
  readonly totals: BackendTotals;
  inFlight: Series<'backend'> | undefined;
  /** direction → method label → series of the requests that succeeded, and of those that failed */
  readonly durations: Map<string, Map<string, Outcomes>>;
  /** The seed's `mcp_gateway_endpoint_requests_total`: namespace → status → series */
  readonly endpoints: Map<string, Map<string, Series<'endpoint' | 'namespace' | 'status'>>>;
}

/** A method's duration series by outcome (the histogram's `status` label: `ok` or `error`). */
export interface Outcomes {
  ok: DurationSeries | undefined;
  error: DurationSeries | undefined;
}

/** What the connection and byte events of one client transport update. */
export interface TransportRecord {
  active: Series<'transport'> | undefined;
  total: Series<'transport'> | undefined;
  /** direction → series */
  readonly bytes: Map<string, Series<'transport' | 'direction'>>;
  /** direction → the seed's frame series (WebSocket and TCP only) */
  readonly framed: Map<string, FramedSeries>;
}

/** The JSON-RPC frames of one transport and direction, in the seed's two families. */
export interface FramedSeries {
  readonly messages: Series<'direction' | 'type'>;
  readonly bytes: Series<'direction'>;
}

/** A request in flight, and the next one with the same id. */
export interface PendingRequest {
  readonly sessionId: string;
  readonly direction: string;
  /** Where it was counted in flight. */
  readonly record: BackendRecord;
  next: PendingRequest | undefined;
}

/** A subscription to one channel, made now and switched on and off together with the rest. */
export function on<T>(topic: Topic<T>, handler: (event: T) => void) {
  return {
    subscribe: () => topic.subscribe(handler),
    unsubscribe: () => topic.unsubscribe(handler),
  };
}
