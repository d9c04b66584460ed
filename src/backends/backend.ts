import type { BackendTransport } from './transport.js';
import type { BackendConfig, StdioBackendConfig } from '../config/schema.js';
import type { Logger } from '../core/logger.js';
import { StdioBackendTransport } from './stdio-backend.js';
import { SharedProcess } from './shared-process.js';
import { createRemoteTransport } from './remote.js';
import type { ProcessBudget } from './process-budget.js';
import { Balancer } from './balancer.js';
import { BackendCredentials, CredentialedTransport } from './credentials.js';
import type { Principal } from '../core/policy.js';

/** One configured backend: hands each new session a transport to it. */
export interface Backend {
  readonly name: string;
  /** A connection for one new session, not yet started (starting it is the caller's job). */
  connect(log: Logger, principal?: Principal): BackendTransport;
  /** Starts what runs ahead of sessions (shared and pooled processes with `start: eager`). */
  warm(): Promise<void>;
  /** Stops shared or pooled processes that have served no session for `idleMs`. */
  reapIdle(idleMs: number): void;
  /** Ends shared processes; per-session transports end with their sessions. */
  close(): Promise<void>;
}

export interface BackendContext {
  log: Logger;
  maxMessageBytes: number;
  /** Caps on stdio processes; none when absent. */
  budget?: ProcessBudget;
}

function stdioTransport(
  name: string,
  config: StdioBackendConfig,
  ctx: BackendContext,
  log: Logger,
) {
  return new StdioBackendTransport({
    name,
    command: config.command,
    args: config.args,
    cwd: config.cwd,
    env: config.env,
    inheritEnv: config.inheritEnv,
    killGraceMs: config.killGraceMs,
    maxMessageBytes: ctx.maxMessageBytes,
    log,
    slot: ctx.budget?.slot(name, config.maxProcesses),
  });
}

export function createBackend(name: string, config: BackendConfig, ctx: BackendContext): Backend {
  if (config.transport !== 'stdio') {
    const credentials = new BackendCredentials(name, config.credentials);
    /** A transport to `url`, with the caller's credentials when the backend wants them. */
    const remote = (
      url: string,
      log: Logger,
      principal: Principal | undefined,
    ): BackendTransport =>
      credentials.needed
        ? new CredentialedTransport(credentials, principal, (extra) =>
            createRemoteTransport(
              name,
              { ...config, url, headers: { ...config.headers, ...extra } },
              log,
              ctx.maxMessageBytes,
            ),
          )
        : createRemoteTransport(name, { ...config, url }, log, ctx.maxMessageBytes);
    if (config.replicas.length > 0) {
      const balancer = new Balancer(
        [{ url: config.url, weight: config.weight }, ...config.replicas],
        config.balance,
      );
      return {
        name,
        connect(log, principal) {
          const replica = balancer.pick();
          return balancer.place(replica, remote(replica.url, log, principal));
        },
        warm: async () => {},
        reapIdle: () => {},
        close: async () => {},
      };
    }
    return {
      name,
      connect: (log, principal) => remote(config.url, log, principal),
      warm: async () => {},
      reapIdle: () => {},
      close: async () => {},
    };
  }
  if (config.processModel === 'per-session') {
    return {
      name,
      connect: (log) => stdioTransport(name, config, ctx, log),
      warm: async () => {},
      reapIdle: () => {},
      close: async () => {},
    };
  }
  // shared is a pool of one.
  let turn = 0;
  const size = config.processModel === 'shared' ? 1 : config.poolSize;
  const log = ctx.log.child({ backend: name });
  const processes = Array.from(
    { length: size },
    (_, i) =>
      new SharedProcess({
        name: size === 1 ? name : `${name}#${i}`,
        log,
        serializeCalls: config.serializeCalls,
        spawn: () => stdioTransport(name, config, ctx, log.child({ process: i })),
      }),
  );
  return {
    name,
    connect(sessionLog) {
      // Pin the session to a process: the one serving the fewest sessions, or the next in turn.
      let chosen = processes[turn++ % processes.length]!;
      if (config.balance === 'least-connections') {
        for (const p of processes) if (p.sessionCount < chosen.sessionCount) chosen = p;
      }
      return chosen.channel(sessionLog);
    },
    async warm() {
      if (config.start === 'eager') await Promise.all(processes.map((p) => p.ensureReady()));
    },
    reapIdle(idleMs) {
      // Eager processes are meant to be there before anyone asks.
      if (config.start === 'eager') return;
      for (const p of processes) if (p.idleFor() > idleMs) void p.close();
    },
    async close() {
      await Promise.allSettled(processes.map((p) => p.close()));
    },
  };
}
