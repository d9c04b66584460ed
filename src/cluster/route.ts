import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError } from '../core/errors.js';
import { messageLimit } from '../config/schema.js';
import { readBody } from '../frontends/http-io.js';
import type { LocalSessions } from '../frontends/session-cluster.js';
import type { StreamableHttpSessionOptions } from '../frontends/streamable-http-session.js';
import type { PeerInfo } from '../frontends/types.js';
import { sendHttpError } from '../http/error-reply.js';
import { failInflight, requestIdOf, restarted, tellClient } from './failover.js';
import { FORWARDED, NOT_OWNER, forwardedRequest, signForward, verifyForward } from './forward.js';
import type { ClusterNode } from './node.js';
import { principalHash, verifySessionId } from './session-id.js';
import type { Heartbeat, SessionRecord } from './store.js';
import { ClusterSessionTransport } from './transport.js';

/*
 * How a replica routes a request naming a session it does not serve (see node.ts): forward it to
 * a live owner, continue the session here when the owner is dead, or say 503 / 404. Also the
 * internal listener's side: serving what another replica forwarded.
 */

/** How long a request may wait for its session to be routed (adoption, handover). */
const ROUTE_DEADLINE_MS = 10_000;
const REPLAY_TIMEOUT_MS = 30_000;
const REPLICA_HEADER = 'mcp-bridge-replica';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class ClusterRouter {
  constructor(private readonly node: ClusterNode) {}

  // ── routing ───────────────────────────────────────────────────────────────────────────

  /** True when it has answered the request; false: the endpoint serves it as usual. */
  async route(
    base: string,
    req: IncomingMessage,
    res: ServerResponse,
    peer: PeerInfo,
    local: LocalSessions,
  ): Promise<boolean> {
    res.setHeader(REPLICA_HEADER, this.node.replicaId);
    const sid = req.headers['mcp-session-id'];
    if (typeof sid !== 'string') return false;
    const forwarded = FORWARDED.has(req);
    if (local.has(sid)) {
      if (this.node.handingOver.has(sid)) {
        if (forwarded) return this.notOwner(res);
        while (this.node.handingOver.has(sid)) await sleep(20);
      } else if (!this.node.leaseStale() || !this.node.store.ready) {
        return false;
      } else if (await this.stillOwner(sid)) {
        return false;
      }
    }
    const adopting = this.node.adopting.get(sid);
    if (adopting) {
      await adopting.catch(() => false);
      if (local.has(sid)) return false;
    }
    const minted = verifySessionId(this.node.secret, sid);
    if (minted === undefined) {
      // Not an id of this cluster (forged, guessed, or from before): refused before Redis.
      throw new GatewayError(
        'GATEWAY_SESSION_NOT_FOUND',
        'it has ended or never existed; initialize a new session',
      );
    }
    const body =
      req.method === 'POST'
        ? await readBody(req, messageLimit(this.node.config.limits, 'http'))
        : Buffer.alloc(0);
    const deadline = Date.now() + ROUTE_DEADLINE_MS;
    while (Date.now() < deadline) {
      if (!this.node.healthy || !this.node.store.ready) return this.unavailable(res);
      let record: SessionRecord | undefined;
      try {
        record = await this.node.store.read(sid);
      } catch {
        return this.unavailable(res);
      }
      if (!record) {
        const origin = minted !== this.node.replicaId ? this.node.peers.get(minted) : undefined;
        if (origin && !forwarded) {
          // Redis has no record (it restarted empty): the replica that minted the id may still serve it.
          const outcome = await this.forwardTo(minted, origin.addr, base, req, body, res, peer);
          if (outcome !== 'not-owner') return true;
        }
        if (Date.now() - this.node.healthySince < 2 * this.node.config.cluster.heartbeatMs + 1000)
          return this.unavailable(res);
        throw new GatewayError(
          'GATEWAY_SESSION_NOT_FOUND',
          'it has ended or never existed; initialize a new session',
        );
      }
      if (record.endpoint !== base)
        throw new GatewayError(
          'GATEWAY_SESSION_NOT_FOUND',
          'it has ended or never existed; initialize a new session',
        );
      if (record.principal !== principalHash(peer.principal))
        throw new GatewayError('GATEWAY_FORBIDDEN', 'this session belongs to another caller');
      const owner = record.owner;
      const alive =
        owner !== '' && owner !== this.node.replicaId ? await this.liveOwner(owner) : undefined;
      if (alive) {
        if (forwarded) return this.notOwner(res);
        const outcome = await this.forwardTo(owner, alive.addr, base, req, body, res, peer);
        if (outcome === 'served') return true;
        if (outcome === 'not-owner') {
          await sleep(25);
          continue;
        }
        // Unreachable: nothing arrived there; the owner is gone. Fall through to adopt.
        this.node.peers.delete(owner);
      } else if (
        owner !== '' &&
        owner !== this.node.replicaId &&
        Date.now() - this.node.healthySince < 2 * this.node.config.cluster.heartbeatMs + 1000
      ) {
        // Redis just came back (empty): the owner has written its record again but maybe not
        // its heartbeat yet. A missing heartbeat is no proof of death so soon: wait, not adopt.
        return this.unavailable(res);
      }
      if (this.node.drainingNow) {
        // Leaving: another replica continues it. Any live one will do; it adopts.
        const other = [...this.node.peers.entries()].find(([id]) => id !== this.node.replicaId);
        // A forward that raced a handover: its sender routes it again, and adopts.
        if (forwarded) return this.notOwner(res);
        if (!other) return this.unavailable(res, 'GATEWAY_SHUTTING_DOWN');
        const outcome = await this.forwardTo(other[0], other[1].addr, base, req, body, res, peer);
        if (outcome === 'served') return true;
        await sleep(25);
        continue;
      }
      if (record.failover === 'end') {
        await this.node.store.drop(sid, record.epoch).catch(() => {});
        this.node.log.info(
          { session: sid, owner },
          'its replica died and its backend says failover: end; session ended',
        );
        throw new GatewayError(
          'GATEWAY_SESSION_NOT_FOUND',
          'its replica died (failover: end); initialize a new session',
        );
      }
      if (await this.adopt(sid, record, local, peer)) {
        await local.handle(this.replayable(req, body), res, peer);
        return true;
      }
      await sleep(10);
    }
    return this.unavailable(res);
  }

  /** Before serving after a long pause: is this session still ours? Fenced here if not. */
  private async stillOwner(sid: string): Promise<boolean> {
    const state = this.node.local.get(sid);
    if (!state) return false;
    try {
      const [held] = await this.node.store.owners([sid]);
      if (held && (held.owner !== this.node.replicaId || held.epoch !== state.record.epoch)) {
        this.node.fence(sid, `now ${held.owner || 'released'} at epoch ${held.epoch}`);
        return false;
      }
    } catch {
      // Redis cannot say: keep serving, as during an outage.
    }
    return true;
  }

  /**
   * The owner's heartbeat, if it is alive. One that has not renewed for a while (paused?) is
   * waited for, without forwarding anything, until it renews or expires.
   */
  private async liveOwner(owner: string): Promise<Heartbeat | undefined> {
    const { heartbeatMs, ttlMs } = this.node.config.cluster;
    let beat = this.node.peers.get(owner);
    if (!beat) return undefined;
    const until = beat.at + ttlMs + heartbeatMs;
    while (Date.now() - beat.at > 2.5 * heartbeatMs && Date.now() < until) {
      await sleep(Math.min(200, heartbeatMs / 2));
      if (!this.node.peers.has(owner)) return undefined;
      beat = this.node.peers.get(owner)!;
    }
    return beat;
  }

  private async forwardTo(
    owner: string,
    addr: string,
    base: string,
    req: IncomingMessage,
    body: Buffer,
    res: ServerResponse,
    peer: PeerInfo,
  ): Promise<'served' | 'not-owner' | 'unreachable'> {
    const headers = signForward(this.node.secret, req, body, {
      base,
      principal: peer.principal,
      client: peer.remoteAddress,
      from: this.node.replicaId,
    });
    const controller = new AbortController();
    let pending = this.node.forwards.get(owner);
    if (!pending) this.node.forwards.set(owner, (pending = new Set()));
    pending.add(controller);
    this.node.counters.forwarded++;
    try {
      const outcome = await this.node.forwarder.forward(
        addr,
        req,
        headers,
        body,
        res,
        { 'mcp-bridge-forwarded-by': this.node.replicaId },
        controller.signal,
      );
      if (outcome.kind === 'lost') {
        // It may have run there: never run again here. The client decides.
        this.node.log.warn(
          { owner, err: outcome.error },
          'the owner was lost during a forwarded request',
        );
        sendHttpError(res, restarted(), { id: requestIdOf(body), headers: { 'retry-after': '1' } });
        return 'served';
      }
      if (outcome.kind === 'unreachable') {
        this.node.log.info(
          { owner, err: outcome.error.message },
          'the owner cannot be reached; its sessions are adopted',
        );
      }
      return outcome.kind;
    } finally {
      pending.delete(controller);
    }
  }

  /** Continues a dead replica's session here: true when it is local now. */
  private adopt(
    sid: string,
    record: SessionRecord,
    local: LocalSessions,
    peer: PeerInfo,
  ): Promise<boolean> {
    const running = this.node.adopting.get(sid);
    if (running) return running;
    const work = this.adoptNow(sid, record, local, peer).finally(() =>
      this.node.adopting.delete(sid),
    );
    this.node.adopting.set(sid, work);
    return work;
  }

  private async adoptNow(
    sid: string,
    record: SessionRecord,
    local: LocalSessions,
    peer: PeerInfo,
  ): Promise<boolean> {
    const started = Date.now();
    const epoch = await this.node.store.claim(sid, record.owner, record.epoch, this.node.replicaId);
    if (epoch <= 0) return false;
    const base = record.endpoint;
    const options: StreamableHttpSessionOptions = {
      store: this.node.eventStore,
      log: this.node.log.child({ session: sid }),
      firstStream: (epoch - 1) * 1_000_000,
    };
    const transport = new ClusterSessionTransport(sid, options, this.node);
    this.node.transports.set(sid, transport);
    const mine: SessionRecord = { ...record, owner: this.node.replicaId, epoch, inflight: {} };
    this.node.local.set(sid, { base, transport, record: mine });
    try {
      await local.adopt(transport, peer);
      const init = JSON.parse(record.init) as { params?: Record<string, unknown> };
      const reply = await transport.ask('initialize', init.params, REPLAY_TIMEOUT_MS);
      if ('error' in reply)
        throw new Error(`the new backend refused initialize: ${reply.error.message}`);
      transport.tell('notifications/initialized');
      for (const uri of record.subscriptions)
        await transport.ask('resources/subscribe', { uri }, REPLAY_TIMEOUT_MS);
      if (record.logLevel)
        await transport.ask('logging/setLevel', { level: record.logLevel }, REPLAY_TIMEOUT_MS);
      await failInflight(this.node.store, sid, record);
      tellClient(transport, record, reply);
    } catch (error) {
      this.node.log.error(
        { err: error, session: sid },
        'could not continue the session here; it ends',
      );
      await transport.close();
      return false;
    }
    this.node.counters.adopted++;
    this.node.log.warn(
      { session: sid, from: record.owner || '(released)', epoch, ms: Date.now() - started },
      'session continued here with a new backend process (its state was reset)',
    );
    return true;
  }

  /** The request again, with the body already read, for the endpoint to serve. */
  private replayable(req: IncomingMessage, body: Buffer): IncomingMessage {
    const copy = forwardedRequest(req, { signed: Object.keys(req.headers) } as never, body);
    return copy;
  }

  private notOwner(res: ServerResponse): true {
    res.writeHead(421, { [NOT_OWNER]: this.node.replicaId, 'content-length': '0' }).end();
    return true;
  }

  private unavailable(
    res: ServerResponse,
    code: 'GATEWAY_CLUSTER_UNAVAILABLE' | 'GATEWAY_SHUTTING_DOWN' = 'GATEWAY_CLUSTER_UNAVAILABLE',
  ): true {
    sendHttpError(
      res,
      new GatewayError(
        code,
        code === 'GATEWAY_CLUSTER_UNAVAILABLE'
          ? "this replica cannot reach the session's record now"
          : undefined,
        {
          data: { retryAfter: 1 },
        },
      ),
      { headers: { 'retry-after': '1' } },
    );
    return true;
  }

  // ── the internal listener ─────────────────────────────────────────────────────────────

  async serveForward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const body = await readBody(req, messageLimit(this.node.config.limits, 'http'));
      const env = verifyForward(this.node.secret, req, body, this.node.nonces);
      if (typeof env === 'string') {
        this.node.counters.refusedForwards++;
        this.node.log.warn(
          { from: req.socket.remoteAddress, why: env },
          'forwarded request refused',
        );
        throw new GatewayError('GATEWAY_FORBIDDEN', `forward refused: ${env}`);
      }
      const endpoint = this.node.endpoints.get(env.base);
      if (!endpoint)
        throw new GatewayError('GATEWAY_NOT_FOUND', `no endpoint ${env.base || '/'} here`);
      const copy = forwardedRequest(req, env, body);
      FORWARDED.add(copy);
      await endpoint.handle(copy, res, { remoteAddress: env.client, principal: env.principal });
    } catch (error) {
      if (!(error instanceof GatewayError)) this.node.log.error({ err: error }, 'forward failed');
      sendHttpError(res, error);
    }
  }
}
