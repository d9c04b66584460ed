import { randomUUID } from 'node:crypto';
import type { JSONRPCReply, JSONRPCRequest, RequestId } from '../core/jsonrpc.js';
import { errorReply } from '../core/jsonrpc.js';
import { ERROR_TABLE, GatewayError, toErrorReply } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { FrontendKind, OpenSession, PeerInfo } from '../frontends/types.js';
import type { FlowSink } from './flow.js';
import { Flow } from './flow.js';
import { Listen, honoured, readFilter } from './listen.js';
import { ModernPool } from './pool.js';
import type { CacheHints, Envelope } from './modern.js';
import {
  INPUT_METHODS,
  META,
  REMOVED_METHODS,
  SERVED_VERSIONS,
  modernError,
  modernResult,
  readEnvelope,
  retryIdentity,
  withoutEnvelope,
} from './modern.js';
import type { RequestStateSealer } from './request-state.js';
import { STATE_PREFIX, digest } from './request-state.js';

/** The settings of the modern path (`modern` in the config). */
export interface ModernSettings {
  /** Pooled legacy sessions per caller and capability set. */
  poolMaxPerKey: number;
  /** How long a continuation waits for the client's retry. */
  continuationTtlMs: number;
  /** The hints complete list and read results carry. */
  cache: CacheHints;
}

export interface ModernServiceOptions {
  openSession: OpenSession;
  kind: FrontendKind;
  log: Logger;
  sealer: RequestStateSealer;
  /** This replica's name, sealed into continuations. */
  replica: string;
  settings: () => ModernSettings;
}

/** A reply for the modern client, and the HTTP status it travels with. */
export interface ModernReply {
  status: number;
  reply: JSONRPCReply;
}

/** A modern request as it is served: its reply sink, and a way to learn it was abandoned. */
export interface ModernRequest {
  message: JSONRPCRequest;
  peer: PeerInfo;
  sink?: FlowSink & { keepalive?(): void };
  /** Called once if the client abandons the request (its stream closed). */
  onAbandon(listener: () => void): void;
}

const continuationLost = (id: RequestId, detail: string): ModernReply => ({
  status: ERROR_TABLE.GATEWAY_CONTINUATION_LOST.status,
  reply: toErrorReply(id, new GatewayError('GATEWAY_CONTINUATION_LOST', detail)),
});

const invalidState = (id: RequestId, reason: string): ModernReply => ({
  status: 400,
  reply: errorReply(id, -32602, `invalid or expired requestState (${reason})`),
});

/**
 * Serves 2026-07-28 requests on one endpoint by borrowing legacy sessions (the down-level
 * adapter of docs/protocol-eras.md): `server/discover` from the session's `initialize`, requests
 * forwarded without the envelope, results made modern, and the server's own requests turned into
 * `input_required` rounds with a sealed `requestState`, whose retry answers them.
 */
export class ModernService {
  private readonly pool: ModernPool;
  /** Continuations waiting for their retry, by id. */
  private readonly flows = new Map<string, Flow>();
  /** Continuations already answered, until their state expires: a replay is refused as such. */
  private readonly spent = new Map<string, number>();
  /** Listens open now, ended gracefully when the gateway shuts down. */
  private readonly listens = new Set<Listen>();

  constructor(private readonly options: ModernServiceOptions) {
    this.pool = new ModernPool({
      openSession: options.openSession,
      kind: options.kind,
      log: options.log,
      maxPerKey: options.settings().poolMaxPerKey,
    });
  }

  get pooledSessions(): number {
    return this.pool.size;
  }

  get continuations(): number {
    return this.flows.size;
  }

  async serve(request: ModernRequest): Promise<ModernReply> {
    const { message } = request;
    try {
      return await this.route(request);
    } catch (error) {
      const reply = toErrorReply(message.id, error);
      return { status: 200, reply };
    }
  }

  private async route(request: ModernRequest): Promise<ModernReply> {
    const { message, peer } = request;
    const envelope = readEnvelope(message);
    if ('code' in envelope) {
      return {
        status: envelope.status,
        reply: errorReply(message.id, envelope.code, envelope.message, envelope.data),
      };
    }
    if (REMOVED_METHODS.has(message.method)) {
      return {
        status: 404,
        reply: errorReply(
          message.id,
          -32601,
          `Method not found: ${message.method} is not part of the 2026-07-28 protocol`,
        ),
      };
    }
    if (message.method === 'server/discover') return this.discover(message, envelope, peer);
    if (message.method === 'subscriptions/listen') return this.listen(request, envelope);
    const params = message.params as Record<string, unknown> | undefined;
    const state = params?.requestState;
    if (typeof state === 'string' && state.startsWith(STATE_PREFIX))
      return this.resume(request, envelope, state);
    const session = await this.pool.acquire(envelope, peer);
    const level = envelope.logLevel;
    if (level !== undefined && session.level !== level && hasLogging(session.init)) {
      const { reply } = session.client.request('logging/setLevel', { level });
      await reply;
      session.level = level;
    }
    const forwarded = withoutEnvelope(params);
    if (forwarded) {
      delete forwarded.inputResponses;
      delete forwarded.requestState;
    }
    const flow = new Flow(session, envelope.clientCapabilities, {
      method: message.method,
      params: forwarded,
    });
    return this.run(flow, request, envelope);
  }

  /** Runs a flow until its reply or its next round, for the modern request now open. */
  private async run(flow: Flow, request: ModernRequest, envelope: Envelope): Promise<ModernReply> {
    const { message, peer } = request;
    const meta = (message.params as { _meta?: Record<string, unknown> } | undefined)?._meta;
    flow.attach(request.sink, meta?.progressToken, envelope.logLevel !== undefined);
    let abandoned = false;
    request.onAbandon(() => {
      abandoned = true;
      if (flow.isFinished) return;
      // Closing the stream is cancellation: the backend call stops, and a session with a server
      // request in the air never serves again.
      flow.cancel('the client closed the request stream');
      this.pool.discard(flow.session, 'modern request cancelled');
    });
    for (;;) {
      const step = await flow.next();
      if (step.kind === 'reply') {
        flow.attach(undefined, undefined, false);
        if (!abandoned) this.pool.release(flow.session);
        return { status: 200, reply: this.modernReply(message, step.reply, flow.session.init) };
      }
      if (abandoned) return { status: 200, reply: errorReply(message.id, -32800, 'cancelled') };
      if (INPUT_METHODS.has(message.method)) {
        flow.attach(undefined, undefined, false);
        return { status: 200, reply: this.park(flow, message, peer, step.requests) };
      }
      // Only tools/call, prompts/get and resources/read may ask: the server is refused for it.
      flow.refuse(`${message.method} cannot carry input requests`);
    }
  }

  /** Seals the round into a requestState and keeps the flow for the retry. */
  private park(
    flow: Flow,
    message: JSONRPCRequest,
    peer: PeerInfo,
    inputRequests: Record<string, unknown>,
  ): JSONRPCReply {
    const { continuationTtlMs } = this.options.settings();
    const continuation = (flow.continuationId ??= randomUUID());
    flow.round++;
    const requestState = this.options.sealer.seal({
      continuation: `${continuation}:${flow.round}`,
      replica: this.options.replica,
      principal: digest(peer.principal?.id ?? '-'),
      method: message.method,
      params: digest(retryIdentity(message.params)),
      expires: Date.now() + continuationTtlMs,
    });
    this.flows.set(continuation, flow);
    clearTimeout(flow.parkedTimer);
    flow.parkedTimer = setTimeout(() => {
      if (this.flows.get(continuation) !== flow) return;
      this.flows.delete(continuation);
      flow.refuse('client did not respond');
      // The call may still finish; its result has nobody to go to, and the session is freed.
      void flow.next().then(() => this.pool.release(flow.session));
    }, continuationTtlMs);
    flow.parkedTimer.unref();
    return {
      jsonrpc: '2.0',
      id: message.id,
      result: { resultType: 'input_required', inputRequests, requestState },
    } as JSONRPCReply;
  }

  /** A retry: opens its state, answers the held requests, and goes on with the same call. */
  private async resume(
    request: ModernRequest,
    envelope: Envelope,
    state: string,
  ): Promise<ModernReply> {
    const { message, peer } = request;
    const claims = this.options.sealer.open(state);
    if (typeof claims === 'string') return invalidState(message.id, claims);
    if (claims.principal !== digest(peer.principal?.id ?? '-'))
      return invalidState(message.id, 'it belongs to another caller');
    if (claims.method !== message.method || claims.params !== digest(retryIdentity(message.params)))
      return invalidState(message.id, 'it was issued for a different request');
    if (claims.replica !== this.options.replica) {
      return continuationLost(
        message.id,
        'the continuation is held by another gateway replica; send the request again without requestState',
      );
    }
    const [continuation, round] = claims.continuation.split(':');
    if (this.spent.has(claims.continuation))
      return invalidState(message.id, 'it was already answered');
    const flow = this.flows.get(continuation!);
    if (!flow) {
      return continuationLost(
        message.id,
        'the continuation has ended; send the request again without requestState',
      );
    }
    if (Number(round) !== flow.round) return invalidState(message.id, 'it was already answered');
    this.flows.delete(continuation!);
    this.spend(claims.continuation, claims.expires);
    clearTimeout(flow.parkedTimer);
    const responses = (message.params as { inputResponses?: unknown } | undefined)?.inputResponses;
    flow.answer(
      typeof responses === 'object' && responses !== null
        ? (responses as Record<string, unknown>)
        : undefined,
    );
    return this.run(flow, request, envelope);
  }

  /** A listen: a borrowed session that forwards the server's change notifications. */
  private async listen(request: ModernRequest, envelope: Envelope): Promise<ModernReply> {
    const { message, peer } = request;
    const filter = readFilter(message.params);
    if (filter === undefined) {
      return {
        status: 400,
        reply: errorReply(
          message.id,
          -32602,
          "Invalid params: 'notifications' is required and must be a subscription filter",
        ),
      };
    }
    const session = await this.pool.acquire(envelope, peer);
    const listen = new Listen(
      session,
      message,
      honoured(filter, session.init.capabilities),
      request.sink ?? { notify: () => {} },
      session.init.serverInfo,
    );
    this.listens.add(listen);
    let abandoned = false;
    request.onAbandon(() => {
      abandoned = true;
      void listen.abandon().then(() => this.pool.release(session));
    });
    try {
      await listen.open();
      const reply = await listen.done;
      if (!abandoned && !session.closed) {
        await listen.unsubscribe();
        this.pool.release(session);
      }
      return { status: 200, reply };
    } finally {
      this.listens.delete(listen);
    }
  }

  /** Remembers an answered state until it would have expired anyway. */
  private spend(id: string, expires: number): void {
    const now = Date.now();
    if (this.spent.size >= 10_000) {
      for (const [key, until] of this.spent) if (until < now) this.spent.delete(key);
    }
    this.spent.set(id, expires);
  }

  private async discover(
    message: JSONRPCRequest,
    envelope: Envelope,
    peer: PeerInfo,
  ): Promise<ModernReply> {
    const session = await this.pool.acquire(envelope, peer);
    this.pool.release(session);
    const init = session.init;
    const { cache } = this.options.settings();
    return {
      status: 200,
      reply: {
        jsonrpc: '2.0',
        id: message.id,
        result: {
          resultType: 'complete',
          supportedVersions: SERVED_VERSIONS,
          capabilities: discoveredCapabilities(init.capabilities),
          ...(typeof init.instructions === 'string' && { instructions: init.instructions }),
          ttlMs: cache.ttlMs,
          cacheScope: cache.cacheScope,
          _meta: { [META.serverInfo]: init.serverInfo },
        },
      } as JSONRPCReply,
    };
  }

  private modernReply(
    message: JSONRPCRequest,
    reply: JSONRPCReply,
    init: Record<string, unknown>,
  ): JSONRPCReply {
    if ('error' in reply)
      return {
        ...modernError(reply as JSONRPCReply & { error: { code: number } }),
        id: message.id,
      };
    return {
      jsonrpc: '2.0',
      id: message.id,
      result: modernResult(
        message.method,
        reply.result,
        init.serverInfo,
        this.options.settings().cache,
      ),
    } as JSONRPCReply;
  }

  async close(): Promise<void> {
    for (const flow of this.flows.values()) {
      clearTimeout(flow.parkedTimer);
      flow.refuse('the gateway is shutting down');
    }
    this.flows.clear();
    for (const listen of this.listens) listen.complete();
    await this.pool.close();
  }
}

function hasLogging(init: Record<string, unknown>): boolean {
  const caps = init.capabilities as Record<string, unknown> | undefined;
  return caps?.logging !== undefined;
}

/** A legacy server's capabilities as a modern client sees them: no tasks (not bridged). */
function discoveredCapabilities(capabilities: unknown): Record<string, unknown> {
  if (typeof capabilities !== 'object' || capabilities === null) return {};
  const rest = { ...(capabilities as Record<string, unknown>) };
  delete rest.tasks;
  return rest;
}
