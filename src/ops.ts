import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from './frontends/http-io.js';

/*
 * Operations endpoints: liveness, readiness, per-backend health and counters, and the seed
 * bridge's service API. Read-only views over state the gateway keeps; nothing here is on the
 * message path.
 */

export interface BackendReport {
  name: string;
  transport: string;
  enabled: boolean;
  required: boolean;
  /** `unknown` until first used or probed; `up`; `down` (retrying); `failed` (gave up). */
  state: 'unknown' | 'up' | 'down' | 'failed';
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

/** Serves the ops paths; false when `path` is not one of them. */
export function handleOps(
  path: string,
  req: IncomingMessage,
  res: ServerResponse,
  view: OpsView,
): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  switch (path) {
    case '/healthz':
      sendJson(res, 200, { status: 'ok' });
      return true;
    case '/ready': {
      const { ready, reasons } = view.ready();
      sendJson(res, ready ? 200 : 503, { ready, reasons });
      return true;
    }
    case '/health': {
      const backends = view.backends();
      const healthy = backends.every(
        (b) => !b.enabled || !b.required || (b.state !== 'down' && b.state !== 'failed'),
      );
      sendJson(res, healthy ? 200 : 503, { status: healthy ? 'healthy' : 'degraded', backends });
      return true;
    }
    case '/stats':
      sendJson(res, 200, view.stats());
      return true;
    case '/api/v1/services':
      sendJson(res, 200, { services: view.backends() });
      return true;
  }
  const match = /^\/api\/v1\/services\/([^/]+)(\/health)?$/.exec(path);
  if (!match) return false;
  const name = decodeURIComponent(match[1]!);
  const backend = view.backends().find((b) => b.name === name);
  if (!backend) {
    sendJson(res, 404, {
      error: { code: 'GATEWAY_NOT_FOUND', message: `no backend named ${name}` },
    });
  } else if (match[2]) {
    const healthy = backend.state !== 'down' && backend.state !== 'failed';
    sendJson(res, healthy ? 200 : 503, {
      name,
      healthy,
      state: backend.state,
      lastError: backend.lastError,
      restarts: backend.restarts,
    });
  } else {
    sendJson(res, 200, backend);
  }
  return true;
}
