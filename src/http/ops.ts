import type { BackendState } from '../core/diagnostics.js';
import type { ServerResponse } from 'node:http';
import { GatewayError } from '../core/errors.js';
import { sendJson } from '../frontends/http-io.js';

/*
 * Operations endpoints: liveness, readiness, per-backend health and counters, and the seed
 * bridge's service API. Read-only views over state the gateway keeps; nothing here is on the
 * message path. The route table (`routes.ts`) says which path each answers; an unknown backend
 * is thrown as GATEWAY_NOT_FOUND for the listener's error reply.
 */

/** Whether a backend in `state` counts as healthy. */
export function healthyState(state: BackendState['state']): boolean {
  return state !== 'down' && state !== 'failed' && state !== 'failing';
}

export interface BackendReport {
  name: string;
  transport: string;
  enabled: boolean;
  required: boolean;
  /** `unknown` until first used or probed; `up`; `down` (retrying); `failed` (gave up). */
  state: BackendState['state'];
  /** Starts that failed in a row (a crash loop shows here, and as `failing`). */
  failuresInARow?: number;
  restarts: number;
  lastError: string | undefined;
  lastChange: string | undefined;
  sessions: number;
  processes: number;
}

export interface OpsView {
  /** Listening and not shutting down. */
  ready(): { ready: boolean; reasons: string[] };
  backends(): BackendReport[];
  stats(): Record<string, unknown>;
}

/** `/healthz`: the process answers. */
export function healthz(res: ServerResponse): void {
  sendJson(res, 200, { status: 'ok' });
}

/** `/ready`: listening, not shutting down, and no required backend down. */
export function ready(view: OpsView, res: ServerResponse): void {
  const { ready, reasons } = view.ready();
  sendJson(res, ready ? 200 : 503, { ready, reasons });
}

/** `/health`: every backend's report; 503 when a required one is down. */
export function health(view: OpsView, res: ServerResponse): void {
  const backends = view.backends();
  const healthy = backends.every((b) => !b.enabled || !b.required || healthyState(b.state));
  sendJson(res, healthy ? 200 : 503, { status: healthy ? 'healthy' : 'degraded', backends });
}

/** `/stats`: the gateway's counters. */
export function stats(view: OpsView, res: ServerResponse): void {
  sendJson(res, 200, view.stats());
}

/** `/api/v1/services`: every backend's report. */
export function services(view: OpsView, res: ServerResponse): void {
  sendJson(res, 200, { services: view.backends() });
}

function named(view: OpsView, name: string): BackendReport {
  const backend = view.backends().find((b) => b.name === name);
  if (!backend) throw new GatewayError('GATEWAY_NOT_FOUND', `no backend named ${name}`);
  return backend;
}

/** `/api/v1/services/:id`: one backend's report. */
export function service(view: OpsView, res: ServerResponse, name: string): void {
  sendJson(res, 200, named(view, name));
}

/** `/api/v1/services/:id/health`: one backend's health; 503 when down. */
export function serviceHealth(view: OpsView, res: ServerResponse, name: string): void {
  const backend = named(view, name);
  const healthy = healthyState(backend.state);
  sendJson(res, healthy ? 200 : 503, {
    name,
    healthy,
    state: backend.state,
    lastError: backend.lastError,
    restarts: backend.restarts,
  });
}
