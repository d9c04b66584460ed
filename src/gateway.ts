import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { hostname } from 'node:os';
import type { BackendConfig, GatewayConfig } from './config/schema.js';
import { ConfigError } from './config/schema.js';
import type { Logger } from './core/logger.js';
import { createLogger } from './core/logger.js';
import type { Policy, Principal } from './core/policy.js';
import { GatewayError } from './core/errors.js';
import { createBackend } from './backends/backend.js';
import { ProcessBudget } from './backends/process-budget.js';
import { BackendTarget } from './targets/backend-target.js';
import { FederatedTarget } from './targets/federated-target.js';
import type { Supervision } from './targets/member.js';
import type { SessionTarget } from './targets/target.js';
import type { Upstream } from './targets/link.js';
import { StdioServerTransport, UnixSocketFrontend } from './frontends/stdio.js';
import type { FrontendKind, OpenSession, SessionHandle } from './frontends/types.js';
import { Endpoint } from './http/endpoints.js';
import { RequestStateSealer } from './era/request-state.js';
import type { BackendReport } from './http/ops.js';
import { Authenticator } from './auth/authenticator.js';
import { HttpGuard } from './auth/http-guard.js';
import { messageTokenVerifier } from './auth/message-tokens.js';
import { TokenIntrospector } from './auth/introspection.js';
import { createListener } from './tls.js';
import { exposureWarning } from './auth/exposure.js';
import { createPolicies } from './gateway/policies.js';
import { Health, probe } from './gateway/health.js';
import { SessionRegistry } from './gateway/sessions.js';
import type { SessionSummary } from './gateway/sessions.js';
import { planReload } from './gateway/reload.js';
import { createOpsView } from './gateway/ops-view.js';
import type { ReloadResult } from './gateway/reload.js';
import { createGatewayRouter } from './http/gateway-router.js';
import { restRoutes } from './rest/rest-api.js';
import { createTcpFrontend, tcpHealthOf } from './gateway/tcp.js';
import { createClusterNode } from './cluster/index.js';

export type { SessionSummary, ReloadResult };

export interface GatewayOptions {
  /** @default a pino logger to stderr (or `log.file`) at the configured level */
  log?: Logger;
  /** Policies run first on every client request, in order (tracing, audit). @default [] */
  policies?: readonly Policy[];
  /** Policies run on every request a server makes of the client. @default [] */
  toClientPolicies?: readonly Policy[];
}

export interface Gateway {
  /** Starts the HTTP listener (and the Unix socket, if configured); resolves with the HTTP address. */
  listen(): Promise<AddressInfo>;
  /**
   * Serves one session over a byte stream pair, as a stdio MCP server would (the `--serve stdio`
   * mode). Resolves with the session once it is open.
   */
  serveStdio(input: Readable, output: Writable): Promise<SessionHandle>;
  /**
   * Applies a new configuration without a restart: backends that appear are started, backends
   * that disappear drain, unchanged ones keep their sessions. Settings that need a restart are
   * reported as ignored.
   */
  reload(config: Readonly<GatewayConfig>): Promise<ReloadResult>;
  /** Stops accepting, lets requests in flight finish (up to `server.shutdownTimeoutMs`), ends every session and process. */
  close(): Promise<void>;
  sessions(): SessionSummary[];
  backends(): BackendReport[];
  /** Where the framed TCP frontend listens, when `server.tcp.enabled` and listening. */
  tcpAddress(): AddressInfo | undefined;
  /** Where the TCP health port listens, when `server.tcp.healthPort` is set and listening. */
  tcpHealthAddress(): AddressInfo | undefined;
  readonly log: Logger;
}

/** One enabled backend: its target (chain and connections), its own endpoint, its health. */
interface BackendEntry {
  readonly name: string;
  readonly config: Readonly<BackendConfig>;
  readonly target: BackendTarget;
  readonly endpoint: Endpoint;
  readonly health: Health;
}

const AGGREGATE = '*';
/** Frontends whose one connection may carry both eras: modern messages are split off there. */
const CONNECTION_KINDS: ReadonlySet<FrontendKind> = new Set(['stdio', 'unix', 'websocket', 'tcp']);
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]', '::1'];

/** Assembles a gateway from a validated configuration. The one place where the parts meet. */
export function createGateway(
  initial: Readonly<GatewayConfig>,
  options: GatewayOptions = {},
): Gateway {
  let config = initial;
  const log =
    options.log ?? createLogger({ level: config.log.level, destination: config.log.file ?? 2 });
  const policies = createPolicies(config, log);
  const budget = new ProcessBudget(config.processes.max);
  const entries = new Map<string, BackendEntry>();
  const federatedTargets = new Set<FederatedTarget>();
  const sessions = new SessionRegistry({
    log,
    policies: [...(options.policies ?? []), ...policies.gatewayWide],
    toClientPolicies: options.toClientPolicies ?? [],
    maxPerClient: () => config.sessions.maxPerClient,
    handshakeTimeoutMs: () => config.sessions.handshakeTimeoutMs,
  });
  let closing = false;
  let draining = false;
  let listening = false;
  // Several replicas sharing sessions (src/cluster): only with cluster.enabled.
  const cluster = config.cluster.enabled
    ? createClusterNode({
        config,
        log,
        sessionOf: (id) => sessions.get(id),
        rootEndpoint: () => rootEndpoint(),
      })
    : undefined;

  const supervision = (): Supervision => ({
    restartOnFailure: config.processes.restartOnFailure,
    maxRestartAttempts: config.processes.maxRestartAttempts,
    backoffMs: config.processes.restartBackoffMs,
    backoffMaxMs: config.processes.restartBackoffMaxMs,
    connectTimeoutMs: 30_000,
    healthCheckIntervalMs: config.processes.healthCheckIntervalMs,
    healthCheckTimeoutMs: config.processes.healthCheckTimeoutMs,
  });

  // ── sessions ───────────────────────────────────────────────────────────────────────────

  /** Opens a session bound to `endpoint`; a backend's health follows what its sessions see. */
  async function openSession(
    endpoint: string,
    target: (upstream: Upstream, log: Logger, principal: Principal | undefined) => SessionTarget,
    ...[client, kind, peer]: Parameters<OpenSession>
  ): Promise<SessionHandle> {
    if (closing) throw new GatewayError('GATEWAY_SHUTTING_DOWN');
    const entry = entries.get(endpoint);
    const health = entry?.health;
    // Starting a stdio backend costs a process: a crash loop backs off. A remote one that cannot
    // be reached fails fast on its own (and its replicas cool down in the balancer).
    const counted = entry?.config.transport === 'stdio';
    if (counted) health!.admit();
    const backoff = () => ({
      baseMs: config.processes.restartBackoffMs,
      maxMs: config.processes.restartBackoffMaxMs,
    });
    let session;
    try {
      session = await sessions.open({
        endpoint,
        target,
        client,
        kind,
        peer,
        modern: CONNECTION_KINDS.has(kind)
          ? (entries.get(endpoint)?.endpoint.modern ?? root.modern)
          : undefined,
      });
    } catch (error) {
      // A refusal of the gateway's own (a process or session cap reached, shutting down) says
      // nothing of the backend: it must not count as a failed start and set off the backoff.
      const code = error instanceof GatewayError ? error.code : undefined;
      const refused =
        code === 'GATEWAY_CAPACITY' ||
        code === 'GATEWAY_TOO_MANY_SESSIONS' ||
        code === 'GATEWAY_SHUTTING_DOWN';
      if (refused) throw error;
      if (counted) health!.failedStart((error as Error).message, backoff());
      else health?.mark('down', (error as Error).message);
      throw error;
    }
    if (health) {
      session.oninitialized = () => health.started();
      const { onclose } = session;
      session.onclose = (reason) => {
        onclose?.(reason);
        const started = session.isInitialized;
        if (reason === 'backend exited' || reason === 'initialize failed') {
          // Before its handshake completed, a death is a failed start (a crash loop if it
          // repeats); after, the backend went down.
          if (started || !counted) health.mark('down', 'the backend exited');
          else health.failedStart(`${reason} before its handshake completed`, backoff());
        }
      };
    }
    return session;
  }

  /** The aggregated endpoint's target: every backend, or the only one when there is just one. */
  function rootTarget(
    upstream: Upstream,
    sessionLog: Logger,
    principal: Principal | undefined,
  ): SessionTarget {
    const all = [...entries.values()];
    if (all.length === 0)
      throw new GatewayError('GATEWAY_BACKEND_UNAVAILABLE', 'no backend is enabled');
    if (all.length === 1 || !config.aggregate.enabled)
      return all[0]!.target.bind(upstream, sessionLog, principal);
    const target = new FederatedTarget({
      targets: all.map((e) => e.target),
      separator: config.aggregate.separator,
      prefixMode: config.aggregate.prefix,
      startWaitMs: config.aggregate.startWaitMs,
      supervision: supervision(),
      log: sessionLog,
      principal,
      upstream,
      onMemberState: (member) => {
        const health = entries.get(member.name)?.health;
        if (!health) return;
        if (member.state === 'up' && member.restarts > 0) health.restarts++;
        if (member.state === 'up' || member.state === 'down' || member.state === 'failed')
          health.mark(member.state, member.lastError);
      },
    });
    federatedTargets.add(target);
    return target;
  }

  /** What `/mcp` (and the Unix socket, and stdio) is bound to: one backend's name, or `*`. */
  const rootEndpoint = () =>
    entries.size === 1 || !config.aggregate.enabled
      ? ([...entries.keys()][0] ?? AGGREGATE)
      : AGGREGATE;
  const openRoot: OpenSession = (client, kind, peer) =>
    openSession(rootEndpoint(), rootTarget, client, kind, peer);

  const authConfig = config.auth;
  const introspector = authConfig.introspection
    ? new TokenIntrospector({
        ...authConfig.introspection,
        log: log.child({ auth: 'introspection' }),
      })
    : undefined;
  const authenticator =
    authConfig.apiKeys.length > 0 || authConfig.jwt || introspector
      ? new Authenticator({ apiKeys: authConfig.apiKeys, jwt: authConfig.jwt, introspector })
      : undefined;
  if (authConfig.required && !authenticator) {
    throw new ConfigError([
      'auth.required: expected auth.apiKeys, auth.jwt or auth.introspection to check credentials against',
    ]);
  }
  // Per-message tokens (WebSocket envelope `auth_token`): checked, and kept for a short while.
  const verifyMessageToken = authenticator
    ? messageTokenVerifier(authenticator, config.auth.perMessageCacheMs)
    : undefined;
  // One sealer and one name for the whole gateway: a continuation names the replica holding it.
  const era = {
    sealer: new RequestStateSealer(config.modern.stateKeys),
    replica: cluster?.replicaId ?? `${hostname()}:${process.pid}`,
  };
  const root = new Endpoint('', openRoot, config, log, verifyMessageToken, era, cluster);
  const unix = config.server.unixSocket
    ? new UnixSocketFrontend({
        openSession: openRoot,
        log,
        maxMessageBytes: config.limits.maxMessageBytes,
        maxDepth: config.limits.maxDepth,
        path: config.server.unixSocket,
      })
    : undefined;

  // The framed TCP frontend (server.tcp), on its own port; same sessions and credentials.
  const tcp = createTcpFrontend(config, {
    openSession: openRoot,
    log,
    verifyMessageToken,
    authRequired: authConfig.required,
    healthStatus: () => tcpHealthOf(ops),
  });

  // ── backends ───────────────────────────────────────────────────────────────────────────

  function addBackend(name: string, backendConfig: BackendConfig): BackendEntry {
    const backend = createBackend(name, backendConfig, {
      log,
      maxMessageBytes: config.limits.maxMessageBytes,
      budget,
    });
    const target = new BackendTarget(
      name,
      backendConfig,
      backend,
      policies.forBackend(name, backendConfig),
      policies.changeHook(name, backendConfig),
    );
    const endpoint = new Endpoint(
      `/servers/${name}`,
      (client, kind, peer) =>
        openSession(name, (u, l, p) => target.bind(u, l, p), client, kind, peer),
      config,
      log,
      verifyMessageToken,
      era,
      cluster,
    );
    const entry: BackendEntry = {
      name,
      config: backendConfig,
      target,
      endpoint,
      health: new Health(name),
    };
    entries.set(name, entry);
    if (listening) void warm(entry);
    return entry;
  }

  async function warm(entry: BackendEntry): Promise<void> {
    try {
      await entry.target.backend.warm();
    } catch (error) {
      entry.health.mark('down', (error as Error).message);
      log.warn({ backend: entry.name, err: error }, 'backend failed to start');
    }
  }

  /** The federated targets of aggregated sessions still open (a reload adds and removes members). */
  const federated = () => {
    for (const t of federatedTargets) if (t.isClosed) federatedTargets.delete(t);
    return [...federatedTargets];
  };

  /** Waits for a removed backend's sessions to finish what is in flight, then ends them. */
  async function drainBackend(entry: BackendEntry): Promise<void> {
    const drainMs = config.server.shutdownTimeoutMs;
    await SessionRegistry.settle(() => sessions.boundTo(entry.name), Date.now() + drainMs);
    await Promise.allSettled(
      sessions.boundTo(entry.name).map((s) => s.close('backend removed by a reload')),
    );
    await Promise.allSettled(federated().map((t) => t.removeMember(entry.name, drainMs)));
    await entry.endpoint.close();
    await entry.target.backend.close();
  }

  for (const [name, backendConfig] of Object.entries(config.backends)) {
    if (backendConfig.enabled) addBackend(name, backendConfig);
  }

  // ── health: probes and sweeps ──────────────────────────────────────────────────────────

  function probeIdleBackends(): void {
    const busy = new Set(sessions.all().map((s) => s.endpoint));
    for (const entry of entries.values()) {
      // Probing a per-session stdio backend would start a process just to stop it; its health
      // is what its sessions' starts and exits say.
      if (entry.config.transport === 'stdio' && entry.config.processModel === 'per-session')
        continue;
      // A backend serving sessions shows its health through them.
      if (busy.has(entry.name) || (busy.has(AGGREGATE) && entry.health.state !== 'unknown'))
        continue;
      void probe(
        entry.name,
        entry.target.backend,
        entry.health,
        config.processes.healthCheckTimeoutMs,
        log,
      );
    }
  }

  function sweep(): void {
    if (config.processes.idleTimeoutMs > 0) {
      for (const entry of entries.values())
        entry.target.backend.reapIdle(config.processes.idleTimeoutMs);
    }
    sessions.sweep(config.sessions.idleTimeoutMs, config.sessions.idleWithoutStreamMs);
  }

  let sweepTimer: NodeJS.Timeout | undefined;
  let probeTimer: NodeJS.Timeout | undefined;
  function startTimers(): void {
    clearInterval(sweepTimer);
    clearInterval(probeTimer);
    sweepTimer = setInterval(sweep, config.sessions.cleanupIntervalMs).unref();
    if (config.processes.healthCheckIntervalMs > 0) {
      probeTimer = setInterval(probeIdleBackends, config.processes.healthCheckIntervalMs).unref();
    }
  }

  // ── reports ────────────────────────────────────────────────────────────────────────────

  const ops = createOpsView({
    backends: () => entries.values(),
    sessions,
    budget,
    notReady: () => [
      ...(listening ? [] : ['not listening']),
      ...(closing || draining ? ['shutting down'] : []),
    ],
    authFailures: () => ({ ...guard.failures }),
    extraStats: () => ({ rest: rest.stats(), ...(cluster && { cluster: cluster.describe() }) }),
  });

  // ── HTTP ───────────────────────────────────────────────────────────────────────────────

  const isLoopback =
    ['127.0.0.1', 'localhost', '::1'].includes(config.server.host) ||
    config.server.host.startsWith('127.');
  const guard = new HttpGuard({
    authenticator,
    required: authConfig.required,
    requiredScopes: authConfig.requiredScopes,
    allowedHosts: config.server.allowedHosts ?? (isLoopback ? LOOPBACK_NAMES : []),
    allowedOrigins: config.server.allowedOrigins,
    authorizationServers: authConfig.oauth.authorizationServers,
    scopesSupported: authConfig.oauth.scopesSupported,
    securityContact: config.server.securityContact,
  });
  // ── REST: sessions opened through openSession like any frontend's (src/rest) ──────────
  const rest = restRoutes({
    config: () => config,
    log,
    guard,
    ops,
    gateway: {
      open(name, client, peer) {
        if (name === undefined) return openRoot(client, 'rest', peer);
        const entry = entries.get(name);
        if (!entry)
          throw new GatewayError('GATEWAY_BACKEND_DISABLED', `no enabled backend named ${name}`);
        return openSession(name, (u, l, p) => entry.target.bind(u, l, p), client, 'rest', peer);
      },
      rootEndpoint,
      hasBackend: (name) => entries.has(name),
    },
  });
  const http = createGatewayRouter({
    config,
    log,
    guard,
    root,
    endpointOf: (name) => entries.get(name)?.endpoint,
    ops,
    rest,
  });
  const server: Server = createListener(config.server.tls, http.request, log, config.server);
  server.on('upgrade', http.upgrade);
  server.on('clientError', http.clientError);
  server.on('connect', http.connect);

  return {
    log,
    async listen() {
      const address = await new Promise<AddressInfo>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.server.port, config.server.host, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      });
      await unix?.listen();
      const tcpAddress = await tcp?.listen();
      await cluster?.start(config.server.host);
      listening = true;
      startTimers();
      await Promise.all([...entries.values()].map(warm));
      log.info(
        {
          host: address.address,
          port: address.port,
          path: config.server.path,
          backends: [...entries.keys()],
          unixSocket: config.server.unixSocket,
          tcpPort: tcpAddress?.port,
        },
        'gateway listening',
      );
      const exposed = exposureWarning(config);
      if (exposed) log.warn({ host: config.server.host, auth: 'none' }, exposed);
      return address;
    },
    serveStdio(input, output) {
      listening = true;
      return openRoot(
        new StdioServerTransport({
          input,
          output,
          log,
          maxMessageBytes: config.limits.maxMessageBytes,
          maxDepth: config.limits.maxDepth,
        }),
        'stdio',
      );
    },
    async reload(next) {
      const running = new Map([...entries].map(([name, e]) => [name, e.config]));
      const plan = planReload(config, next, running);
      const drains = plan.stop.map((name) => {
        const entry = entries.get(name)!;
        entries.delete(name);
        return drainBackend(entry);
      });
      config = next;
      log.level = next.log.level;
      budget.max = next.processes.max;
      policies.reconfigure(next);
      for (const [name, backendConfig] of plan.start) {
        const entry = addBackend(name, backendConfig);
        for (const t of federated()) t.addMember(entry.target);
      }
      if (listening) startTimers();
      await Promise.all(drains);
      return plan.result;
    },
    async close() {
      if (closing || draining) return;
      if (cluster && listening) {
        // Hand the sessions over while this replica still serves (docs/scaling.md).
        draining = true;
        await cluster.drain(config.server.shutdownTimeoutMs);
      }
      closing = true;
      clearInterval(sweepTimer);
      clearInterval(probeTimer);
      const stopped = server.listening
        ? new Promise<void>((resolve) => server.close(() => resolve()))
        : Promise.resolve();
      server.closeIdleConnections();
      // Let requests in flight finish, up to the deadline.
      await SessionRegistry.settle(
        () => sessions.all(),
        Date.now() + config.server.shutdownTimeoutMs,
      );
      await Promise.allSettled([
        root.close(),
        unix?.close(),
        tcp?.close(),
        ...[...entries.values()].map((e) => e.endpoint.close()),
        ...sessions.all().map((s) => s.close('gateway shutting down')),
        rest.close(),
      ]);
      await Promise.allSettled([...entries.values()].map((e) => e.target.backend.close()));
      await policies.close();
      await cluster?.close();
      server.closeAllConnections();
      await stopped;
      log.info('gateway stopped');
      log.flush();
    },
    sessions: () => sessions.summaries(),
    backends: () => ops.backends(),
    tcpAddress: () => tcp?.address(),
    tcpHealthAddress: () => tcp?.healthAddress(),
  };
}
