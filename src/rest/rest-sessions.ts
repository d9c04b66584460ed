import type { IncomingMessage } from 'node:http';
import type { Principal } from '../core/policy.js';
import type { Logger } from '../core/logger.js';
import { GatewayError } from '../core/errors.js';
import type { ClientTransport } from '../session/session.js';
import { claimSession } from '../session/ownership.js';
import type { PeerInfo, SessionHandle } from '../frontends/types.js';
import type { RestConfig } from './config-schema.js';
import { RestClientTransport } from './client-transport.js';
import { RestSession, unknownSession } from './rest-session.js';

/** How the REST layer reaches the gateway: the same `openSession` every frontend uses. */
export interface RestGateway {
  /** Opens a session bound to a backend by name, or to the aggregated endpoint (undefined). */
  open(
    endpoint: string | undefined,
    client: ClientTransport,
    peer: PeerInfo,
  ): Promise<SessionHandle>;
  /** What the aggregated endpoint is bound to: the only backend's name, or `*`. */
  rootEndpoint(): string;
  /** Whether `name` is an enabled backend. */
  hasBackend(name: string): boolean;
}

export interface OpenOptions {
  /** A backend's name; undefined (or `*`) for the aggregated endpoint. */
  endpoint: string | undefined;
  clientId?: string;
  metadata?: Record<string, unknown>;
  capabilities: Record<string, unknown>;
  signal?: AbortSignal;
}

/** The MCP capabilities a REST session declares unless it names its own. */
export const DEFAULT_CAPABILITIES = { sampling: {}, elicitation: { form: {} } };

export function peerOf(req: IncomingMessage, principal: Principal | undefined): PeerInfo {
  return { remoteAddress: req.socket.remoteAddress, principal };
}

/**
 * The REST sessions the gateway holds: opened through the gateway (initialized as an MCP client
 * would), found by id for their owner only, and forgotten when the session ends for any reason
 * (DELETE, the idle sweep, the backend's exit, a reload). Also the pool of sessions one-shot
 * calls reuse, one per (backend, caller).
 */
export class RestSessions {
  private readonly sessions = new Map<string, RestSession>();
  private readonly pool = new Map<string, Promise<RestSession>>();
  constructor(
    private readonly gateway: RestGateway,
    private readonly config: () => Readonly<RestConfig>,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  /** Opens and initializes a session; `listed` ones can be named by id in later requests. */
  async open(options: OpenOptions, peer: PeerInfo, listed = true): Promise<RestSession> {
    const { endpoint } = options;
    const named = endpoint !== undefined && endpoint !== '*';
    if (named && !this.gateway.hasBackend(endpoint))
      throw new GatewayError('GATEWAY_BACKEND_DISABLED', `no enabled backend named ${endpoint}`);
    const config = this.config();
    const transport = new RestClientTransport({
      serverRequestTimeoutMs: config.serverRequestTimeoutMs,
      eventBuffer: config.eventBuffer,
    });
    const handle = await this.gateway.open(named ? endpoint : undefined, transport, peer);
    const session = new RestSession({
      handle,
      transport,
      endpoint: named ? endpoint : this.gateway.rootEndpoint(),
      clientId: options.clientId,
      metadata: options.metadata,
    });
    if (listed) {
      this.sessions.set(session.id, session);
      transport.onended = () => this.sessions.delete(session.id);
    }
    try {
      await session.initialize(options.capabilities, options.signal);
    } catch (error) {
      await session.close('initialize failed');
      throw error;
    }
    return session;
  }

  /** The session `id` if `caller` may use it: 404 when there is none, 403 when it is another's. */
  get(id: string, caller: Principal | undefined): RestSession {
    const session = this.sessions.get(id);
    if (!session || session.transport.isClosed) throw unknownSession(id);
    return claimSession(session, caller, 'rest');
  }

  /**
   * A session for one call of a tool on `backend`, and what to do when the call is done. Pooled
   * (the default): one initialized session per (backend, caller) — the caller being the
   * principal, or the client address when anonymous, so that limits by caller stay the
   * caller's — kept until the idle sweep ends it. Fresh: a session of its own, closed after.
   */
  async oneShot(
    backend: string,
    peer: PeerInfo,
    signal: AbortSignal,
  ): Promise<{ session: RestSession; done: () => Promise<void> }> {
    const options = { endpoint: backend, capabilities: {}, clientId: 'mcp-bridge-rest-one-shot' };
    if (this.config().oneShot.mode === 'fresh') {
      const session = await this.open({ ...options, signal }, peer, false);
      return { session, done: () => session.close('one-shot call done') };
    }
    const key = `${backend}\0${peer.principal ? `p:${peer.principal.id}` : `a:${peer.remoteAddress ?? ''}`}`;
    let pending = this.pool.get(key);
    if (!pending) {
      pending = this.open(options, peer, false);
      this.pool.set(key, pending);
      pending.then(
        (session) => {
          const previous = session.transport.onended;
          session.transport.onended = () => {
            previous?.();
            if (this.pool.get(key) === pending) this.pool.delete(key);
          };
        },
        () => this.pool.delete(key),
      );
    }
    const session = await pending;
    if (session.transport.isClosed) {
      if (this.pool.get(key) === pending) this.pool.delete(key);
      return this.oneShot(backend, peer, signal);
    }
    return { session, done: async () => {} };
  }

  /** Ends every REST session (the gateway is closing; its own close ends them too). */
  async close(): Promise<void> {
    const pooled = await Promise.allSettled(this.pool.values());
    this.pool.clear();
    const all = [
      ...this.sessions.values(),
      ...pooled.flatMap((p) => (p.status === 'fulfilled' ? [p.value] : [])),
    ];
    this.sessions.clear();
    await Promise.allSettled(all.map((s) => s.close('gateway shutting down')));
    this.log.debug({ sessions: all.length }, 'REST sessions closed');
  }
}
