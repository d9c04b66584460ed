import { createHash, randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex, Readable, Writable } from 'node:stream';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { BackendConfig, GatewayConfig } from './config/schema.js';
import type { Logger } from './core/logger.js';
import { createLogger } from './core/logger.js';
import type { MessageContext, Policy, Principal } from './core/policy.js';
import type { ClientTransport } from './core/session.js';
import { Session } from './core/session.js';
import { GatewayError } from './core/errors.js';
import { channels } from './core/diagnostics.js';
import type { Backend } from './backends/backend.js';
import { createBackend } from './backends/backend.js';
import { ProcessBudget } from './backends/process-budget.js';
import { AggregateTarget } from './federation/aggregate.js';
import { Member } from './federation/member.js';
import type { Supervision } from './federation/member.js';
import { StdioServerTransport, UnixSocketFrontend } from './frontends/stdio.js';
import type { FrontendKind, OpenSession, PeerInfo, SessionHandle } from './frontends/types.js';
import { sendError } from './frontends/http-io.js';
import { Endpoint } from './endpoints.js';
import { handleOps } from './ops.js';
import { Authenticator } from './auth/authenticator.js';
import { HttpGuard } from './auth/http-guard.js';
import { createListener } from './tls.js';
import { exposureWarning } from './auth/exposure.js';
import { ConfigError } from './config/schema.js';
import { BreakerRegistry, circuitBreaker } from './policies/circuit-breaker.js';
import type { BreakerOptions } from './policies/circuit-breaker.js';
import { createRateLimiter } from './policies/rate-limit.js';
import { timeout } from './policies/timeout.js';
import { retry } from './policies/retry.js';
import { createAuthorizer } from './policies/authorization.js';
import type { BackendReport } from './ops.js';

export interface GatewayOptions {
  /** @default a pino logger to stderr (or `log.file`) at the configured level */
  log?: Logger;
  /** Policies run on every message, in order, before it is forwarded. @default [] */
  policies?: readonly Policy[];
}

/** What a running session looks like from outside (tests, /stats, the dashboard). */
export interface SessionSummary {
  id: string;
  transport: FrontendKind;
  /** The backend's name, or `*` for the aggregated endpoint. */
  backend: string;
  /** Process id of the backend process serving the session, for stdio backends. */
  pid: number | undefined;
  /** For aggregated sessions: each backend's process id. */
  pids?: Record<string, number | undefined>;
  /** For a backend with replicas: the one the session was placed on. */
  replica?: string;
  inFlight: number;
}

/** What a reload changed. */
export interface ReloadResult {
  added: string[];
  removed: string[];
  changed: string[];
  /** Settings that only take effect on restart. */
  ignored: string[];
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
   * that disappear drain, unchanged ones keep their sessions. Listener settings (host, port)
   * need a restart and are reported as ignored.
   */
  reload(config: Readonly<GatewayConfig>): Promise<ReloadResult>;
  /** Stops accepting, lets requests in flight finish (up to `server.shutdownTimeoutMs`), ends every session and process. */
  close(): Promise<void>;
  sessions(): SessionSummary[];
  backends(): BackendReport[];
  readonly log: Logger;
}

interface BackendEntry {
  name: string;
  config: BackendConfig;
  backend: Backend;
  endpoint: Endpoint;
  health: {
    state: BackendReport['state'];
    restarts: number;
    lastError?: string;
    lastChange?: number;
  };
}

interface Live {
  session: Session;
  kind: FrontendKind;
  /** Backend name, or `*` for the aggregated endpoint. */
  endpoint: string;
  target: Transport;
  peer: PeerInfo | undefined;
}

const AGGREGATE = '*';

/** Assembles a gateway from a validated configuration. The one place where the parts meet. */
export function createGateway(
  initial: Readonly<GatewayConfig>,
  options: GatewayOptions = {},
): Gateway {
  let config = initial;
  const log =
    options.log ?? createLogger({ level: config.log.level, destination: config.log.file ?? 2 });
  const breakerOptions = (): BreakerOptions => ({ ...config.breakers });
  const breakers = new BreakerRegistry(breakerOptions());
  const limiter = config.rateLimits.enabled
    ? createRateLimiter({
        rules: [
          ...(config.rateLimits.requests > 0
            ? [
                {
                  scope: 'ip' as const,
                  requests: config.rateLimits.requests,
                  periodMs: config.rateLimits.periodMs,
                },
              ]
            : []),
          ...config.rateLimits.rules,
        ],
        redisUrl: config.redis.url,
        keyPrefix: config.redis.keyPrefix,
        log,
      })
    : undefined;
  const backendConfigOf = (ctx: MessageContext) =>
    ctx.backend ? entries.get(ctx.backend)?.config : undefined;
  const deadline = (ctx: MessageContext) => {
    const backend = backendConfigOf(ctx);
    // Aggregated sessions: each backend's deadline applies where the call is routed. Starting
    // a backend (initialize) is bounded by the transport, not by the per-request deadline.
    if (!backend || ctx.message.method === 'initialize') return 0;
    return backend.methodTimeoutsMs[ctx.message.method] ?? backend.timeoutMs;
  };
  // The fixed order: the caller's policies (authentication, tracing), then gateway-wide limits,
  // then per-method deadlines and retries, then the per-backend breaker nearest the backend.
  const authorizer =
    config.authorization.rules.length > 0 || config.authorization.default === 'deny'
      ? createAuthorizer({
          rules: [...config.authorization.rules],
          default: config.authorization.default,
        })
      : undefined;
  const policies: Policy[] = [
    ...(options.policies ?? []),
    ...(authorizer ? [authorizer.policy] : []),
    ...(limiter ? [limiter.policy] : []),
    timeout({
      baseFor: deadline,
      maxFor: (ctx) => backendConfigOf(ctx)?.maxTimeoutMs || 10 * deadline(ctx),
    }),
    ...(config.retries.attempts > 0 ? [retry(config.retries)] : []),
    ...(config.breakers.enabled ? [circuitBreaker(breakers)] : []),
  ];
  const budget = new ProcessBudget(config.processes.max);
  const entries = new Map<string, BackendEntry>();
  const live = new Map<string, Live>();
  const counters = { sessionsOpened: 0, sessionsRejected: 0, requests: 0, errors: 0 };
  let closing = false;
  let listening = false;

  const supervision = (): Supervision => ({
    restartOnFailure: config.processes.restartOnFailure,
    maxRestartAttempts: config.processes.maxRestartAttempts,
    backoffMs: config.processes.restartBackoffMs,
    backoffMaxMs: config.processes.restartBackoffMaxMs,
    connectTimeoutMs: 30_000,
    healthCheckIntervalMs: config.processes.healthCheckIntervalMs,
    healthCheckTimeoutMs: config.processes.healthCheckTimeoutMs,
  });

  function markHealth(name: string, state: BackendReport['state'], error?: string): void {
    const entry = entries.get(name);
    if (!entry) return;
    const h = entry.health;
    if (error !== undefined) h.lastError = error;
    if (h.state === state) return;
    h.lastChange = Date.now();
    h.state = state;
    if (channels.backendState.hasSubscribers) {
      channels.backendState.publish({ backend: name, state, restarts: h.restarts });
    }
  }

  // ── sessions ───────────────────────────────────────────────────────────────────────────

  async function openSession(
    endpoint: string,
    makeTarget: (log: Logger, principal: Principal | undefined) => Transport,
    client: ClientTransport,
    kind: FrontendKind,
    peer?: PeerInfo,
  ): Promise<SessionHandle> {
    if (closing) throw new GatewayError('GATEWAY_SHUTTING_DOWN');
    const cap = config.sessions.maxPerClient;
    if (cap > 0 && peer?.remoteAddress) {
      let held = 0;
      for (const s of live.values()) if (s.peer?.remoteAddress === peer.remoteAddress) held++;
      if (held >= cap) {
        counters.sessionsRejected++;
        throw new GatewayError(
          'GATEWAY_TOO_MANY_SESSIONS',
          `${peer.remoteAddress} already holds ${held} sessions (sessions.maxPerClient)`,
        );
      }
    }
    const id = client.sessionId ?? randomUUID();
    const sessionLog = log.child({ session: id, transport: kind, endpoint });
    const target = makeTarget(sessionLog, peer?.principal);
    const session = new Session({
      id,
      transport: kind,
      client,
      target,
      policies,
      log: sessionLog,
      backend: endpoint,
      remoteAddress: peer?.remoteAddress,
      principal: peer?.principal,
      counters,
    });
    session.onclose = (reason) => {
      live.delete(id);
      sessionLog.info({ reason }, 'session ended');
      if (reason === 'backend exited' && endpoint !== AGGREGATE) {
        markHealth(
          endpoint,
          'down',
          (target as { unavailable?: () => Error }).unavailable?.().message,
        );
      }
    };
    try {
      await session.start();
    } catch (error) {
      if (endpoint !== AGGREGATE) markHealth(endpoint, 'down', (error as Error).message);
      throw error;
    }
    if (endpoint !== AGGREGATE) markHealth(endpoint, 'up');
    counters.sessionsOpened++;
    live.set(id, { session, kind, endpoint, target, peer });
    sessionLog.info({ pid: (target as { pid?: number }).pid }, 'session opened');
    return session;
  }

  function enabledEntries(): BackendEntry[] {
    return [...entries.values()];
  }

  /** The aggregated endpoint's target: every backend, or the only one when there is just one. */
  function rootTarget(sessionLog: Logger, principal: Principal | undefined): Transport {
    const all = enabledEntries();
    if (all.length === 0)
      throw new GatewayError('GATEWAY_BACKEND_UNAVAILABLE', 'no backend is enabled');
    if (all.length === 1 || !config.aggregate.enabled)
      return all[0]!.backend.connect(sessionLog, principal);
    return new AggregateTarget({
      principal,
      members: all.map((e) => ({ name: e.name, backend: e.backend, config: e.config })),
      separator: config.aggregate.separator,
      listTimeoutMs: 5000,
      initializeWaitMs: 5000,
      supervision: supervision(),
      log: sessionLog,
      breakers: config.breakers.enabled ? breakers : undefined,
      onMemberState: (member) => {
        const entry = entries.get(member.name);
        if (!entry) return;
        if (member.state === 'up' && member.restarts > 0) entry.health.restarts++;
        if (member.state === 'up' || member.state === 'down' || member.state === 'failed') {
          markHealth(member.name, member.state, member.lastError);
        }
      },
    });
  }

  const openRoot: OpenSession = (client, kind, peer) => {
    const endpoint =
      enabledEntries().length === 1 || !config.aggregate.enabled
        ? (enabledEntries()[0]?.name ?? AGGREGATE)
        : AGGREGATE;
    return openSession(endpoint, rootTarget, client, kind, peer);
  };
  // Per-message tokens (WebSocket envelope `auth_token`): checked, and kept for a short while.
  const messageTokens = new Map<string, { principal: Principal; until: number }>();
  const checksTokens = config.auth.apiKeys.length > 0 || config.auth.jwt !== undefined;
  async function checkMessageToken(token: string): Promise<Principal> {
    const key = createHash('sha256').update(token).digest('hex');
    const cached = messageTokens.get(key);
    if (cached && cached.until > Date.now()) return cached.principal;
    const principal = await authenticator!.verify(token, 'websocket');
    if (messageTokens.size > 10_000) messageTokens.clear();
    messageTokens.set(key, { principal, until: Date.now() + config.auth.perMessageCacheMs });
    return principal;
  }
  const verifyMessageToken = checksTokens ? checkMessageToken : undefined;
  const root = new Endpoint('', openRoot, config, log, verifyMessageToken);
  const unix = config.server.unixSocket
    ? new UnixSocketFrontend({
        openSession: openRoot,
        log,
        maxMessageBytes: config.limits.maxMessageBytes,
        maxDepth: config.limits.maxDepth,
        path: config.server.unixSocket,
      })
    : undefined;

  function addBackend(name: string, backendConfig: BackendConfig): void {
    const backend = createBackend(name, backendConfig, {
      log,
      maxMessageBytes: config.limits.maxMessageBytes,
      budget,
    });
    const endpoint = new Endpoint(
      `/servers/${name}`,
      (client, kind, peer) =>
        openSession(name, (l, p) => backend.connect(l, p), client, kind, peer),
      config,
      log,
      verifyMessageToken,
    );
    entries.set(name, {
      name,
      config: backendConfig,
      backend,
      endpoint,
      health: { state: 'unknown', restarts: 0 },
    });
    if (listening) void warm(entries.get(name)!);
  }

  async function warm(entry: BackendEntry): Promise<void> {
    try {
      await entry.backend.warm();
    } catch (error) {
      markHealth(entry.name, 'down', (error as Error).message);
      log.warn({ backend: entry.name, err: error }, 'backend failed to start');
    }
  }

  /** Waits for a removed backend's sessions to finish what is in flight, then ends them. */
  async function drainBackend(entry: BackendEntry): Promise<void> {
    const deadline = Date.now() + config.server.shutdownTimeoutMs;
    const mine = () => [...live.values()].filter((s) => s.endpoint === entry.name);
    while (mine().some((s) => s.session.inFlight > 0) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await Promise.allSettled(mine().map((s) => s.session.close('backend removed by a reload')));
    await Promise.allSettled(
      [...live.values()]
        .filter((s) => s.target instanceof AggregateTarget)
        .map((s) =>
          (s.target as AggregateTarget).removeMember(entry.name, config.server.shutdownTimeoutMs),
        ),
    );
    await entry.endpoint.close();
    await entry.backend.close();
  }

  for (const [name, backendConfig] of Object.entries(config.backends)) {
    if (backendConfig.enabled) addBackend(name, backendConfig);
  }

  // ── health: probes and sweeps ──────────────────────────────────────────────────────────

  /** Connects, initializes and disconnects, to learn whether a backend answers. */
  async function probe(entry: BackendEntry): Promise<void> {
    const member = new Member(entry.name, {
      backend: entry.backend,
      supervision: {
        ...supervision(),
        restartOnFailure: false,
        connectTimeoutMs: config.processes.healthCheckTimeoutMs,
        healthCheckIntervalMs: 0,
      },
      log,
      onNotification: () => {},
      onRequest: async (_m, message) => ({
        jsonrpc: '2.0',
        id: message.id,
        error: { code: -32601, message: 'health probe' },
      }),
      onStateChange: () => {},
    });
    await member.connect({
      protocolVersion: '2025-11-25',
      capabilities: {},
      clientInfo: { name: 'mcp-bridge-health', version: '1' },
    });
    if (member.isUp) {
      const pong = await member.request('ping', undefined, config.processes.healthCheckTimeoutMs);
      if ('error' in pong) markHealth(entry.name, 'down', pong.error.message);
      else markHealth(entry.name, 'up');
    } else {
      markHealth(entry.name, 'down', member.lastError);
    }
    await member.close();
  }

  function probeIdleBackends(): void {
    const busy = new Set([...live.values()].map((s) => s.endpoint));
    for (const entry of entries.values()) {
      // Probing a per-session stdio backend would start a process just to stop it; its health
      // is what its sessions' starts and exits say.
      if (entry.config.transport === 'stdio' && entry.config.processModel === 'per-session')
        continue;
      // A backend serving sessions shows its health through them.
      if (busy.has(entry.name) || (busy.has(AGGREGATE) && entry.health.state !== 'unknown'))
        continue;
      void probe(entry).catch((error: unknown) => log.debug({ err: error }, 'health probe failed'));
    }
  }

  function sweepIdleSessions(): void {
    const idle = config.sessions.idleTimeoutMs;
    const now = Date.now();
    if (config.processes.idleTimeoutMs > 0) {
      for (const entry of entries.values()) entry.backend.reapIdle(config.processes.idleTimeoutMs);
    }
    for (const { session } of live.values()) {
      if (now - session.lastActivity > idle && session.inFlight === 0) {
        log.info({ session: session.id }, 'closing idle session');
        void session.close('idle timeout');
      }
    }
  }

  let sweepTimer: NodeJS.Timeout | undefined;
  let probeTimer: NodeJS.Timeout | undefined;
  function startTimers(): void {
    clearInterval(sweepTimer);
    clearInterval(probeTimer);
    sweepTimer = setInterval(sweepIdleSessions, config.sessions.cleanupIntervalMs).unref();
    if (config.processes.healthCheckIntervalMs > 0) {
      probeTimer = setInterval(probeIdleBackends, config.processes.healthCheckIntervalMs).unref();
    }
  }

  // ── HTTP ───────────────────────────────────────────────────────────────────────────────

  const ops = {
    ready: () => {
      const reasons: string[] = [];
      if (!listening) reasons.push('not listening');
      if (closing) reasons.push('shutting down');
      for (const b of reports()) {
        if (b.required && (b.state === 'down' || b.state === 'failed')) {
          reasons.push(`backend ${b.name} is ${b.state}${b.lastError ? `: ${b.lastError}` : ''}`);
        }
      }
      return { ready: reasons.length === 0, reasons };
    },
    backends: () => reports(),
    stats: () => {
      const byTransport: Record<string, number> = {};
      for (const s of live.values()) byTransport[s.kind] = (byTransport[s.kind] ?? 0) + 1;
      return {
        sessions: {
          active: live.size,
          opened: counters.sessionsOpened,
          rejected: counters.sessionsRejected,
          byTransport,
        },
        processes: { running: budget.running, max: budget.max },
        requests: { total: counters.requests, errors: counters.errors },
        authFailures: { ...guard.failures },
        uptimeSeconds: Math.round(process.uptime()),
      };
    },
  };

  function reports(): BackendReport[] {
    return [...entries.values()].map((e) => ({
      name: e.name,
      transport: e.config.transport,
      enabled: e.config.enabled,
      required: e.config.required,
      state: e.health.state,
      restarts: e.health.restarts,
      lastError: e.health.lastError,
      lastChange: e.health.lastChange ? new Date(e.health.lastChange).toISOString() : undefined,
      sessions: [...live.values()].filter((s) => s.endpoint === e.name || s.endpoint === AGGREGATE)
        .length,
      processes: budget.runningFor(e.name),
    }));
  }

  const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]', '::1'];
  const isLoopback =
    ['127.0.0.1', 'localhost', '::1'].includes(config.server.host) ||
    config.server.host.startsWith('127.');
  const authConfig = config.auth;
  const authenticator =
    authConfig.apiKeys.length > 0 || authConfig.jwt
      ? new Authenticator({ apiKeys: authConfig.apiKeys, jwt: authConfig.jwt })
      : undefined;
  if (authConfig.required && !authenticator) {
    throw new ConfigError([
      'auth.required: expected auth.apiKeys or auth.jwt to check credentials against',
    ]);
  }
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

  /** Which MCP endpoint a path names: the rest after its base, and the backend entry if any. */
  function route(
    path: string,
  ): { rest: string; entry?: BackendEntry; unknown?: string } | undefined {
    const servers = /^\/servers\/([^/]+)(\/[a-z]+)$/.exec(path);
    if (servers) {
      const name = decodeURIComponent(servers[1]!);
      const entry = entries.get(name);
      return entry ? { rest: servers[2]!, entry } : { rest: servers[2]!, unknown: name };
    }
    if (path === config.server.path) return { rest: '/mcp' };
    if (path === '/sse' || path === '/messages' || path === '/ws') return { rest: path };
    return undefined;
  }

  /** The session a request names, for the session-owner check. */
  function sessionNamed(req: IncomingMessage): Session | undefined {
    const header = req.headers['mcp-session-id'];
    const id =
      typeof header === 'string'
        ? header
        : new URL(req.url ?? '/', 'http://x').searchParams.get('sessionId');
    return id ? live.get(id)?.session : undefined;
  }

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!guard.admit(req, res)) return;
    const path = pathOf(req.url);
    if (guard.wellKnown(path, req, res)) return;
    const target = route(path);
    const protectedOps = path === '/stats' || path.startsWith('/api/');
    if (target || protectedOps) {
      const principal = await guard.authenticate(
        req,
        target ? path : '/mcp',
        target?.rest === '/ws' ? 'websocket' : 'http',
      );
      if (principal === false) return guard.refuse(req, res);
      if (guard.ownerMismatch(sessionNamed(req)?.principal, principal)) {
        return sendError(
          res,
          new GatewayError('GATEWAY_FORBIDDEN', 'this session belongs to another caller'),
        );
      }
    }
    if (target?.unknown !== undefined) {
      return sendError(
        res,
        new GatewayError('GATEWAY_BACKEND_DISABLED', `no enabled backend named ${target.unknown}`),
      );
    }
    if (target && (target.entry ? target.entry.endpoint : root).handle(target.rest, req, res))
      return;
    if (!target && handleOps(path, req, res, ops)) return;
    sendError(res, new GatewayError('GATEWAY_NOT_FOUND', `no endpoint at ${req.method} ${path}`));
  }

  const server: Server = createListener(
    config.server.tls,
    (req: IncomingMessage, res: ServerResponse) => {
      serve(req, res).catch((error: unknown) => {
        log.error({ err: error }, 'request failed');
        sendError(res, error);
      });
    },
    log,
    config.server,
  );
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    void (async () => {
      if (!guard.admitUpgrade(req, socket)) return;
      const target = route(pathOf(req.url));
      if (!target || target.unknown !== undefined) {
        socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
        return;
      }
      const principal = await guard.authenticate(req, pathOf(req.url), 'websocket');
      if (principal === false) return guard.refuseUpgrade(req, socket);
      if (!(target.entry ? target.entry.endpoint : root).upgrade(target.rest, req, socket, head)) {
        socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      }
    })().catch((error: unknown) => {
      log.error({ err: error }, 'upgrade failed');
      socket.destroy();
    });
  });
  server.on('clientError', (error, socket) => {
    log.debug({ err: error }, 'malformed HTTP request');
    if (socket.writable)
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });

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
      const result: ReloadResult = { added: [], removed: [], changed: [], ignored: [] };
      for (const key of [
        'host',
        'port',
        'path',
        'unixSocket',
        'http',
        'sse',
        'websocket',
        'tls',
      ] as const) {
        if (!isDeepStrictEqual(next.server[key], config.server[key]))
          result.ignored.push(`server.${key}`);
      }
      for (const key of [
        'limits',
        'rateLimits',
        'redis',
        'admin',
        'tracing',
        'audit',
        'auth',
        'authorization',
      ] as const) {
        if (!isDeepStrictEqual(next[key], config[key])) result.ignored.push(key);
      }
      if (next.log.file !== config.log.file) result.ignored.push('log.file');
      const wanted = new Map(Object.entries(next.backends).filter(([, b]) => b.enabled));
      const drains: Promise<void>[] = [];
      for (const [name, entry] of entries) {
        const replacement = wanted.get(name);
        if (replacement && isDeepStrictEqual(replacement, entry.config)) continue;
        entries.delete(name);
        drains.push(drainBackend(entry));
        if (replacement) result.changed.push(name);
        else result.removed.push(name);
      }
      config = next;
      log.level = next.log.level;
      budget.max = next.processes.max;
      if (!isDeepStrictEqual(next.breakers, config.breakers))
        breakers.configure({ ...next.breakers });
      for (const [name, backendConfig] of wanted) {
        if (entries.has(name)) continue;
        addBackend(name, backendConfig);
        if (!result.changed.includes(name)) result.added.push(name);
        const entry = entries.get(name)!;
        for (const s of live.values()) {
          if (s.target instanceof AggregateTarget)
            s.target.addMember({ name, backend: entry.backend, config: backendConfig });
        }
      }
      if (listening) startTimers();
      await Promise.all(drains);
      return result;
    },
    async close() {
      if (closing) return;
      closing = true;
      clearInterval(sweepTimer);
      clearInterval(probeTimer);
      const stopped = server.listening
        ? new Promise<void>((resolve) => server.close(() => resolve()))
        : Promise.resolve();
      server.closeIdleConnections();
      // Let requests in flight finish, up to the deadline.
      const deadline = Date.now() + config.server.shutdownTimeoutMs;
      while ([...live.values()].some((s) => s.session.inFlight > 0) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await Promise.allSettled([
        root.close(),
        unix?.close(),
        ...[...entries.values()].map((e) => e.endpoint.close()),
        ...[...live.values()].map(({ session }) => session.close('gateway shutting down')),
      ]);
      await Promise.allSettled([...entries.values()].map((e) => e.backend.close()));
      await limiter?.close();
      server.closeAllConnections();
      await stopped;
      log.info('gateway stopped');
      log.flush();
    },
    sessions() {
      return [...live.values()].map(({ session, kind, endpoint, target }) => ({
        id: session.id,
        transport: kind,
        backend: endpoint,
        pid: (target as { pid?: number }).pid,
        ...(target instanceof AggregateTarget ? { pids: target.pids } : {}),
        ...replicaOf(target),
        inFlight: session.inFlight,
      }));
    },
    backends: reports,
  };
}

function replicaOf(target: Transport): { replica?: string } {
  const replica = (target as { replica?: { url: string } }).replica;
  return replica ? { replica: replica.url } : {};
}

function pathOf(url: string | undefined): string {
  if (!url) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
