import type { BackendConfig } from '../config/schema.js';
import type { ProcessBudget } from '../backends/process-budget.js';
import { groupUsage } from '../backends/process-usage.js';
import type { BackendReport, OpsView } from '../http/ops.js';
import { healthyState } from '../http/ops.js';
import type { Health } from './health.js';
import type { SessionRegistry } from './sessions.js';

export interface OpsSources {
  backends(): Iterable<{ name: string; config: Readonly<BackendConfig>; health: Health }>;
  sessions: SessionRegistry;
  budget: ProcessBudget;
  /** Why the gateway is not ready on its own account (not listening, shutting down). */
  notReady(): string[];
  /** Authentication failures by reason. */
  authFailures(): Record<string, number | undefined>;
  /** More to show in `/stats` (the REST API's counters). */
  extraStats?(): Record<string, unknown>;
}

/** What the ops endpoints show: backends' health, readiness, and the counters of `/stats`. */
export function createOpsView(sources: OpsSources): OpsView {
  const { sessions, budget } = sources;
  function reports(): BackendReport[] {
    const open = sessions.all();
    return [...sources.backends()].map(({ name, config, health }) => ({
      name,
      transport: config.transport,
      enabled: config.enabled,
      required: config.required,
      state: health.state,
      restarts: health.restarts,
      lastError: health.lastError,
      lastChange: health.lastChange ? new Date(health.lastChange).toISOString() : undefined,
      failuresInARow: health.failuresInARow,
      sessions: open.filter((s) => s.endpoint === name || s.endpoint === '*').length,
      processes: budget.runningFor(name),
    }));
  }
  /** Each backend process: what it serves, and (on Linux) what its process group uses. */
  function processList() {
    const running = budget.processes();
    const usage = groupUsage(new Set(running.map((p) => p.pid)));
    const sessionsOf = new Map<number, string[]>();
    for (const s of sessions.summaries()) {
      for (const pid of [s.pid, ...Object.values(s.pids ?? {})]) {
        if (pid !== undefined) sessionsOf.set(pid, [...(sessionsOf.get(pid) ?? []), s.id]);
      }
    }
    const now = Date.now();
    return running.map(({ pid, backend, startedAt }) => ({
      pid,
      backend,
      sessions: [...new Set(sessionsOf.get(pid))],
      startedAt: new Date(startedAt).toISOString(),
      uptimeSeconds: Math.round((now - startedAt) / 1000),
      ...usage.get(pid),
    }));
  }

  return {
    backends: reports,
    ready() {
      const reasons = sources.notReady();
      for (const b of reports()) {
        if (b.required && !healthyState(b.state))
          reasons.push(`backend ${b.name} is ${b.state}${b.lastError ? `: ${b.lastError}` : ''}`);
      }
      return { ready: reasons.length === 0, reasons };
    },
    stats() {
      const { sessionsOpened, sessionsRejected, requests, errors } = sessions.counters;
      const names = [...sources.backends()].map((b) => b.name);
      return {
        sessions: {
          active: sessions.size,
          opened: sessionsOpened,
          rejected: sessionsRejected,
          byTransport: sessions.byTransport(),
        },
        processes: { running: budget.running, max: budget.max },
        requests: { total: requests, errors },
        authFailures: sources.authFailures(),
        uptimeSeconds: Math.round(process.uptime()),
        // Seed 000's names for the same counters, so that its users' scripts keep reading them.
        active_sessions: sessions.size,
        active_processes: budget.running,
        total_requests: requests,
        total_errors: errors,
        uptime_seconds: Math.round(process.uptime()),
        process_stats: {
          running: budget.running,
          max: budget.max,
          byBackend: Object.fromEntries(names.map((n) => [n, budget.runningFor(n)])),
          processes: processList(),
        },
        ...sources.extraStats?.(),
      };
    },
  };
}
