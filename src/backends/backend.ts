import type { BackendTransport } from './transport.js';
import type { BackendConfig, RemoteBackendConfig, StdioBackendConfig } from '../config/schema.js';
import type { Logger } from '../core/logger.js';
import { StdioBackendTransport } from './stdio-backend.js';
import { SharedProcess } from './shared-process.js';
import { createRemoteTransport } from './remote.js';
import type { ProcessBudget } from './process-budget.js';
import { Balancer } from './balancer.js';
import type { ReplicaAddress, ReplicaTransport } from './balancer.js';
import { startDiscovery } from '../discovery/discovery.js';
import { BackendCredentials, CredentialedTransport } from './credentials.js';
import type { Principal } from '../core/policy.js';
import { schemeFamily } from '../core/url-schemes.js';
import { UpgradeTransport } from '../era/upgrade.js';
import type { EraVerdict } from '../era/upgrade.js';

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
  config: Pick<
    StdioBackendConfig,
    'command' | 'args' | 'cwd' | 'env' | 'inheritEnv' | 'killGraceMs' | 'maxProcesses'
  >,
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

/**
 * How a backend's connections are wrapped for its protocol era: not at all for a legacy one (or
 * an `auto` one already found legacy), by the up-level adapter otherwise.
 */
function eraWrapper(config: BackendConfig): {
  /** `kind`: the transport this connection speaks (a replica's may differ from the backend's). */
  wrap: (transport: BackendTransport, kind?: BackendConfig['transport']) => BackendTransport;
  /** The era as known now: an `auto` backend found legacy is `legacy` from then on. */
  protocol: () => BackendConfig['protocol'];
} {
  const verdict: EraVerdict = { era: undefined };
  const mode = config.protocol;
  const protocol = () => (mode === 'auto' && verdict.era === 'legacy' ? 'legacy' : mode);
  if (mode === 'legacy') return { wrap: (transport) => transport, protocol };
  return {
    protocol,
    wrap: (transport, kind = config.transport) =>
      protocol() === 'legacy'
        ? transport
        : new UpgradeTransport(transport, {
            mode,
            verdict,
            // Over Streamable HTTP a probe is one POST: a backend of both eras is found modern.
            probe: kind === 'streamable-http',
          }),
  };
}

/** A configured replica as the balancer keeps it; a local one is named by its command line. */
function replicaAddress(replica: RemoteBackendConfig['replicas'][number]): ReplicaAddress {
  if (replica.command === undefined)
    return { url: replica.url!, weight: replica.weight, transport: replica.transport };
  const args = replica.args ?? [];
  return {
    url: `stdio:${[replica.command, ...args].join(' ')}`,
    weight: replica.weight,
    stdio: { command: replica.command, args, cwd: replica.cwd, env: replica.env ?? {} },
  };
}

/**
 * The transport of a replica: its own when given, else told from its URL's scheme; an HTTP URL
 * takes the backend's HTTP transport (or `auto` when the backend speaks WebSocket or TCP).
 */
export function replicaTransport(
  url: string,
  own: ReplicaTransport | undefined,
  backend: RemoteBackendConfig['transport'],
): RemoteBackendConfig['transport'] {
  if (own !== undefined) return own;
  const family = schemeFamily(url);
  if (family === 'websocket' || family === 'tcp') return family;
  return backend === 'websocket' || backend === 'tcp' ? 'auto' : backend;
}

export function createBackend(name: string, config: BackendConfig, ctx: BackendContext): Backend {
  const era = eraWrapper(config);
  if (config.transport !== 'stdio') {
    const credentials = new BackendCredentials(name, config.credentials);
    /** A transport to `url`, with the caller's credentials when the backend wants them. */
    const remote = (
      url: string,
      log: Logger,
      principal: Principal | undefined,
      transport = config.transport,
    ): BackendTransport => era.wrap(direct(url, log, principal, transport), transport);
    const direct = (
      url: string,
      log: Logger,
      principal: Principal | undefined,
      transport: RemoteBackendConfig['transport'],
    ): BackendTransport =>
      credentials.needed
        ? new CredentialedTransport(credentials, principal, (extra) =>
            createRemoteTransport(
              name,
              {
                transport,
                url,
                protocol: era.protocol(),
                headers: { ...config.headers, ...extra },
              },
              log,
              ctx.maxMessageBytes,
            ),
          )
        : createRemoteTransport(
            name,
            { transport, url, protocol: era.protocol(), headers: config.headers },
            log,
            ctx.maxMessageBytes,
          );
    if (config.replicas.length > 0 || config.discovery) {
      const balancer = new Balancer(
        [{ url: config.url, weight: config.weight }, ...config.replicas.map(replicaAddress)],
        config.balance,
        { probeIntervalMs: config.latencyProbeMs },
      );
      const discovery =
        config.discovery &&
        startDiscovery(
          config.discovery,
          (found) => balancer.update(found),
          ctx.log.child({ backend: name }),
        );
      return {
        name,
        connect(log, principal) {
          const replica = balancer.pick();
          if (replica.stdio) {
            // A local replica: its own process for this session, as a per-session stdio backend.
            const child = stdioTransport(
              name,
              { ...replica.stdio, killGraceMs: 2000, maxProcesses: 0, inheritEnv: undefined },
              ctx,
              log,
            );
            return balancer.place(replica, era.wrap(child, 'stdio'));
          }
          const transport = replicaTransport(replica.url, replica.transport, config.transport);
          return balancer.place(replica, remote(replica.url, log, principal, transport));
        },
        warm: async () => {},
        reapIdle: () => {},
        close: async () => discovery?.stop(),
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
      connect: (log) => era.wrap(stdioTransport(name, config, ctx, log)),
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
        spawn: () => era.wrap(stdioTransport(name, config, ctx, log.child({ process: i }))),
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
