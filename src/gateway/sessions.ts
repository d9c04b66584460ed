import { randomUUID } from 'node:crypto';
import type { Logger } from '../core/logger.js';
import type { Policy, Principal } from '../core/policy.js';
import { GatewayError } from '../core/errors.js';
import { Session } from '../session/session.js';
import type { ClientTransport, ModernServer } from '../session/session.js';
import type { Upstream } from '../targets/link.js';
import type { SessionTarget } from '../targets/target.js';
import type { FrontendKind, PeerInfo } from '../frontends/types.js';

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
  /** Who is on the other end: the authenticated principal, and the address it came from. */
  caller: { principal?: string; address?: string };
  /** When the session opened, ISO 8601. */
  openedAt: string;
  /** Since the client last sent anything, in seconds. */
  idleSeconds: number;
}

interface Live {
  session: Session;
  kind: FrontendKind;
  peer: PeerInfo | undefined;
  opened: number;
}

export interface OpenRequest {
  /** A backend's name, or `*` for the aggregated endpoint. */
  endpoint: string;
  target: (upstream: Upstream, log: Logger, principal: Principal | undefined) => SessionTarget;
  client: ClientTransport;
  kind: FrontendKind;
  peer?: PeerInfo;
  /** Serves 2026-07-28 messages of a connection transport. */
  modern?: ModernServer;
}

export interface SessionRegistryOptions {
  log: Logger;
  /** The gateway-wide chain. */
  policies: readonly Policy[];
  toClientPolicies: readonly Policy[];
  /** Sessions one caller may hold (0: no cap); read at every open. */
  maxPerClient: () => number;
  /** How long a session may go without a completed initialize; read at every open. */
  handshakeTimeoutMs: () => number;
}

/** Who a session is counted against: its principal when there is one, else its address. */
function callerOf(peer: PeerInfo | undefined): string | undefined {
  return peer?.principal ? `principal:${peer.principal.id}` : peer?.remoteAddress;
}

/** The gateway's live sessions: opening them under the caps, finding, sweeping and ending them. */
export class SessionRegistry {
  readonly counters = { sessionsOpened: 0, sessionsRejected: 0, requests: 0, errors: 0 };
  private readonly live = new Map<string, Live>();

  constructor(private readonly options: SessionRegistryOptions) {}

  get size(): number {
    return this.live.size;
  }

  async open(request: OpenRequest): Promise<Session> {
    const { endpoint, client, kind, peer } = request;
    const cap = this.options.maxPerClient();
    const caller = callerOf(peer);
    if (cap > 0 && caller !== undefined) {
      let held = 0;
      for (const s of this.live.values()) if (callerOf(s.peer) === caller) held++;
      if (held >= cap) {
        this.counters.sessionsRejected++;
        const who = peer?.principal ? `"${peer.principal.id}"` : caller;
        throw new GatewayError(
          'GATEWAY_TOO_MANY_SESSIONS',
          `${who} already holds ${held} sessions (sessions.maxPerClient)`,
        );
      }
    }
    const id = client.sessionId ?? randomUUID();
    const log = this.options.log.child({ session: id, transport: kind, endpoint });
    const session = new Session({
      id,
      transport: kind,
      endpoint,
      client,
      target: (upstream) => request.target(upstream, log, peer?.principal),
      policies: this.options.policies,
      toClientPolicies: this.options.toClientPolicies,
      log,
      remoteAddress: peer?.remoteAddress,
      principal: peer?.principal,
      counters: this.counters,
      handshakeTimeoutMs: this.options.handshakeTimeoutMs(),
      modern: request.modern,
    });
    session.onclose = (reason) => {
      this.live.delete(id);
      log.info({ reason }, 'session ended');
    };
    await session.start();
    this.counters.sessionsOpened++;
    this.live.set(id, { session, kind, peer, opened: Date.now() });
    log.info({ pid: session.target.describe().pid }, 'session opened');
    return session;
  }

  get(id: string): Session | undefined {
    return this.live.get(id)?.session;
  }

  all(): Session[] {
    return [...this.live.values()].map((l) => l.session);
  }

  /** Sessions bound to `endpoint` (a backend's name, or `*`). */
  boundTo(endpoint: string): Session[] {
    return this.all().filter((s) => s.endpoint === endpoint);
  }

  byTransport(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const s of this.live.values()) counts[s.kind] = (counts[s.kind] ?? 0) + 1;
    return counts;
  }

  summaries(): SessionSummary[] {
    const now = Date.now();
    return [...this.live.values()].map(({ session, kind, peer, opened }) => {
      const { pid, pids, replica } = session.target.describe();
      const principal = session.principal?.id ?? peer?.principal?.id;
      const address = session.remoteAddress ?? peer?.remoteAddress;
      return {
        id: session.id,
        transport: kind,
        backend: session.endpoint,
        pid,
        ...(pids && { pids }),
        ...(replica !== undefined && { replica }),
        inFlight: session.inFlight,
        caller: {
          ...(principal !== undefined && { principal }),
          ...(address !== undefined && { address }),
        },
        openedAt: new Date(opened).toISOString(),
        idleSeconds: Math.round((now - session.lastActivity) / 1000),
      };
    });
  }

  /**
   * Ends sessions idle for longer than `idleMs` with nothing in flight, and sooner (`unheldMs`)
   * those whose client holds no stream open: a client that left without DELETE.
   */
  sweep(idleMs: number, unheldMs: number): void {
    const now = Date.now();
    for (const session of this.all()) {
      // A server's request to a client that holds no stream open waits for nobody: not busy.
      const busy = session.clientConnected ? session.inFlight : session.clientRequestsInFlight;
      if (busy > 0) continue;
      const idle = now - session.lastActivity;
      const bound = session.clientConnected ? idleMs : Math.min(idleMs, unheldMs);
      if (idle > bound) {
        this.options.log.info(
          { session: session.id, idleMs: idle, streamOpen: session.clientConnected },
          'closing idle session',
        );
        void session.close(session.clientConnected ? 'idle timeout' : 'idle with no stream open');
      }
    }
  }

  /** Waits until the clients of `sessions` have their answers, or until `deadline` (ms since the epoch). */
  static async settle(sessions: () => Session[], deadline: number): Promise<void> {
    while (sessions().some((s) => s.clientRequestsInFlight > 0) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
