import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { JSONRPCMessage, JSONRPCNotification, JSONRPCReply } from '../core/jsonrpc.js';
import type { JSONRPCRequest, RequestId } from '../core/jsonrpc.js';
import { isNotification, isReply, isRequest } from '../core/jsonrpc.js';
import type { GatewayErrorCode } from '../core/errors.js';
import { GatewayError, toErrorReply } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { withId } from '../core/raw-json.js';
import { backoffDelay } from './backoff.js';
import { WaitQueue } from './queue.js';
import { StatusFile } from './status-file.js';
import type { ConnectorStatus } from './status-file.js';
import { classifySendFailure, createLink, describeSendFailure } from './remote-link.js';
import { isLinkFailure, isResumeRefusal, meansNoStreamableHttp } from './remote-link.js';
import { isAuthRefusal, reopenGetStream } from './remote-link.js';
import { directTarget, remoteTarget } from './link-targets.js';
import type { LinkTarget } from './link-targets.js';
import { RestoreMemo } from './restore-memo.js';
import { HeldStreams } from './held-streams.js';
import { seconds, triage } from './link-loss.js';
import type { InFlight } from './link-loss.js';
import { OwnRequests, RequestClock, ServerRequests, withTimeout } from './link-requests.js';
import { channels } from '../core/diagnostics.js';
import { SessionNotAttached, WebSocketBackendTransport } from '../backends/websocket-backend.js';

import type { ConnectorOptions, LinkState } from './options.js';
export type { ConnectorOptions, LinkState } from './options.js';

/**
 * A stdio MCP server for a desktop client that carries the session to a remote MCP server and
 * keeps it across outages. On first contact it is passive: the client's own `initialize` goes to
 * the remote. When the link breaks it reconnects with backoff; requests made meanwhile wait in a
 * bounded queue; once a session had been established it is restored (the client's original
 * `initialize`, `notifications/initialized`, its subscriptions and log level) before anything
 * else is sent. Requests in flight at the break are sent again when they change nothing; any
 * other (a `tools/call`) gets a definite error, as it may already have run.
 */
export class Connector {
  private state: LinkState = 'idle';
  private since = Date.now();
  private reconnects = 0;
  private lastError: string | undefined;
  private link: Transport | undefined;
  /** Bumped whenever a link is dropped, so that late events of an old link are ignored. */
  private epoch = 0;
  /** The primary, then the fallbacks (link-targets.ts); `at` is the one in use or being tried. */
  private readonly targets: LinkTarget[];
  private at = 0;
  private attempt = 0;
  /** The current link has carried a reply: it really is up (an HTTP link is up only in name until then). */
  private confirmed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private nextRemoteId = 1;
  private readonly inFlight = new Map<number, InFlight>();
  /** The connector's own requests (the restore handshake), by remote id. */
  private readonly own = new OwnRequests();
  /** Server requests sent to the client, by the id the client sees. */
  private readonly toClient = new ServerRequests();
  private readonly memo = new RestoreMemo();
  private readonly held = new HeldStreams<InFlight>();
  /** The control dialect: the lost link's session, which the next link to it attaches to again. */
  private attachable: { sessionId: string; target: number } | undefined;
  private getStreamEventId: string | undefined; // of a GET stream reopened by resumeStreams
  /** When each client request reached the connector, for the latency metric. */
  private readonly clock = new RequestClock();
  private readonly queue: WaitQueue<JSONRPCMessage>;
  private readonly status: StatusFile | undefined;
  private log: Logger;
  private closed = false;
  private markEnded!: () => void;
  /** Resolves once the connector has closed (the client left, or `close` was called). */
  readonly ended = new Promise<void>((resolve) => (this.markEnded = resolve));

  constructor(private readonly options: ConnectorOptions) {
    this.targets = [
      options.direct ? directTarget(options.direct) : remoteTarget(options),
      ...(options.fallbacks ?? []).map(remoteTarget),
    ];
    this.log = options.log.child({ remote: this.remote });
    this.queue = new WaitQueue(options.queue ?? {}, (message) => this.expired(message));
    this.status = options.statusFile ? new StatusFile(options.statusFile) : undefined;
  }

  /** Where the link is, as the status file shows it. */
  snapshot(): ConnectorStatus {
    return {
      state: this.state,
      since: new Date(this.since).toISOString(),
      reconnects: this.reconnects,
      queueDepth: this.queue.size,
      inFlight: this.inFlight.size,
      remote: this.remote,
      transport: this.target.autoPending ? 'auto' : this.target.kind,
      ...(this.lastError !== undefined && { lastError: this.lastError }),
      pid: process.pid,
    };
  }

  /** Starts serving the client. The remote is contacted when the client first speaks. */
  async start(): Promise<void> {
    const { client } = this.options;
    client.onmessage = (message) => this.fromClient(message);
    client.onerror = (error) => this.log.debug({ err: error }, 'client transport error');
    client.onclose = () => void this.close();
    await client.start();
    this.log.info({ credentials: this.target.credentials.describe() }, 'connector ready');
    this.writeStatus();
  }

  // ── from the client ────────────────────────────────────────────────────────────────────

  private fromClient(message: JSONRPCMessage): void {
    if (this.closed) return;
    if (isReply(message)) return this.replyFromClient(message);
    if (isRequest(message)) {
      this.memo.note(message);
      this.clock.arrived(message);
    }
    if (isNotification(message)) {
      if (message.method === 'notifications/initialized') this.memo.initialized = true;
      if (message.method === 'notifications/cancelled') return this.cancelFromClient(message);
    }
    if (this.state === 'connected') this.forward(message);
    else this.enqueue(message);
    if (this.state === 'idle') void this.connect();
  }

  private replyFromClient(reply: JSONRPCReply): void {
    const entry = this.toClient.take(reply.id);
    if (!entry) return;
    // The remote that asked is gone: a restored session never asked this.
    if (entry.epoch !== this.epoch || this.state !== 'connected') return;
    this.transmit(withId(reply, entry.remoteId));
  }

  private cancelFromClient(notification: JSONRPCNotification): void {
    const requestId = notification.params?.requestId;
    if (this.queue.remove((m) => isRequest(m) && m.id === requestId)) return this.writeStatus();
    for (const [remoteId, entry] of this.inFlight) {
      if (entry.clientId !== requestId) continue;
      this.inFlight.delete(remoteId);
      if (this.state === 'connected')
        this.transmit({ ...notification, params: { ...notification.params, requestId: remoteId } });
      return;
    }
  }

  private enqueue(message: JSONRPCMessage): void {
    if (!this.queue.push(message)) {
      if (isRequest(message)) {
        this.replyError(
          message,
          'CONNECTOR_QUEUE_FULL',
          `${this.queue.maxSize} requests already wait for the link to ${this.remote} (--queue-size)`,
        );
      }
      return;
    }
    this.writeStatus();
  }

  private expired(message: JSONRPCMessage): void {
    if (isRequest(message)) {
      this.replyError(
        message,
        'CONNECTOR_QUEUE_TIMEOUT',
        `the link to ${this.remote} was not back within ${this.queue.maxWaitMs} ms (--queue-wait-ms)${this.lastError ? `; last error: ${this.lastError}` : ''}`,
      );
    }
    this.writeStatus();
  }

  /** Sends a client message on the open link: requests under a new id of ours. */
  private forward(message: JSONRPCMessage): void {
    if (!isRequest(message)) return this.transmit(message);
    const remoteId = this.nextRemoteId++;
    this.inFlight.set(remoteId, { clientId: message.id, request: message });
    this.transmit(withId(message, remoteId), remoteId);
  }

  private transmit(message: JSONRPCMessage, remoteId?: number, resumptionToken?: string): void {
    const link = this.link;
    const epoch = this.epoch;
    if (!link) return;
    const entry = remoteId === undefined ? undefined : this.inFlight.get(remoteId);
    // Over Streamable HTTP, the last event id of each response stream, to resume it from.
    const onresumptiontoken = entry
      ? (token: string) => {
          entry.resumeToken = token;
          entry.resumed = false;
        }
      : undefined;
    link
      .send(message, { resumptionToken, onresumptiontoken })
      .catch((error: unknown) => this.sendFailed(error, epoch, remoteId));
  }

  private sendFailed(error: unknown, epoch: number, remoteId: number | undefined): void {
    if (epoch !== this.epoch || this.closed) return;
    const failure = classifySendFailure(error);
    if (failure === 'closed') return;
    const entry = remoteId === undefined ? undefined : this.inFlight.get(remoteId);
    const detail = describeSendFailure(error);
    if (
      this.target.autoPending &&
      entry?.request.method === 'initialize' &&
      meansNoStreamableHttp(error)
    ) {
      // The verdict is kept: every reconnection uses SSE from now on.
      this.log.info('the remote does not speak Streamable HTTP; trying legacy SSE');
      this.target.kind = 'sse';
      this.inFlight.delete(remoteId!);
      this.drop();
      this.queue.requeue([entry.request]);
      return this.scheduleReconnect(true);
    }
    if (failure === 'refused') {
      if (!entry) return void this.log.warn({ reason: detail }, 'the remote refused a message');
      this.inFlight.delete(remoteId!);
      return this.replyError(entry.request, 'CONNECTOR_REMOTE_REFUSED', detail);
    }
    if (entry && (failure === 'session-lost' || failure === 'not-delivered')) entry.notRun = true;
    this.linkLost(detail, epoch, failure === 'session-lost');
  }

  // ── from the remote ────────────────────────────────────────────────────────────────────

  private fromRemote(message: JSONRPCMessage): void {
    this.confirmed = true;
    if (isReply(message)) {
      const id = message.id as number;
      if (this.own.answer(message)) return;
      const entry = this.inFlight.get(id);
      if (!entry) return;
      this.inFlight.delete(id);
      this.attempt = 0;
      if (entry.request.method === 'initialize' && 'result' in message)
        this.established(message.result);
      this.clock.answered(entry.request, 'error' in message ? 'error' : 'ok');
      return this.toClientSend(withId(message, entry.clientId));
    }
    if (isRequest(message)) {
      return this.toClientSend(withId(message, this.toClient.add(this.epoch, message.id)));
    }
    if (message.method === 'notifications/cancelled') {
      const params = message.params;
      const id = this.toClient.cancel(this.epoch, params?.requestId as RequestId);
      if (id !== undefined) this.toClientSend({ ...message, params: { ...params, requestId: id } });
      return;
    }
    this.toClientSend(message);
  }

  /** The remote answered the client's initialize: there is a session to restore from now on. */
  private established(result: Record<string, unknown>): void {
    this.memo.established = true;
    this.target.autoPending = false;
    const version = result.protocolVersion;
    if (typeof version === 'string' && version) this.memo.protocolVersion = version;
    this.applyProtocolVersion();
    this.writeStatus();
  }

  private applyProtocolVersion(): void {
    const version = this.memo.protocolVersion;
    if (version && this.link instanceof StreamableHTTPClientTransport)
      this.link.setProtocolVersion(version);
  }

  private toClientSend(message: JSONRPCMessage): void {
    this.options.client.send(message).catch((error: unknown) => {
      this.log.debug({ err: error }, 'could not write to the client');
    });
  }

  private replyError(request: JSONRPCRequest, code: GatewayErrorCode, detail: string): void {
    this.clock.answered(request, code);
    this.toClientSend(toErrorReply(request.id, new GatewayError(code, detail)));
  }

  /** Publishes a client request's latency, from its arrival to its reply. */
  /** A log notification to the desktop client, at a level it asked for. */
  private tellClient(level: 'info' | 'warning', text: string): void {
    this.log[level === 'info' ? 'info' : 'warn'](text);
    const notification = this.memo.logNotification(level, text);
    if (notification) this.toClientSend(notification);
  }

  // ── the link ───────────────────────────────────────────────────────────────────────────

  private async connect(): Promise<void> {
    if (this.closed) return;
    const epoch = ++this.epoch;
    const restoring = this.memo.established;
    const resuming = this.held.pending && this.held.target === this.at;
    if (this.held.pending && !resuming) this.held.release((entries) => this.unresumable(entries));
    const attach = this.attachable?.target === this.at ? this.attachable.sessionId : undefined;
    this.confirmed = false;
    if (this.state === 'idle') this.setState('connecting');
    let link: Transport;
    try {
      const target = this.target;
      link = createLink(target.kind, {
        url: target.url,
        headers: await target.credentials.headers(),
        credentials: target.credentials,
        log: this.log,
        maxMessageBytes: this.options.maxMessageBytes ?? 16 * 1024 * 1024,
        ...(target.tls && { tls: target.tls }),
        ...(target.direct && { direct: target.direct }),
        ...(resuming && { sessionId: this.held.sessionId }),
        ...(attach !== undefined && {
          sessionId: attach,
          // In flight again before the replies the remote kept for it, which follow at once.
          onAttached: () => {
            if (epoch !== this.epoch) return;
            this.attachable = undefined;
            for (const [remoteId, entry] of this.held.take()) this.inFlight.set(remoteId, entry);
          },
        }),
      });
    } catch (error) {
      return this.attemptFailed(epoch, error);
    }
    if (epoch !== this.epoch || this.closed) return void link.close().catch(() => {});
    this.link = link;
    link.onmessage = (message) => {
      if (epoch === this.epoch) this.fromRemote(message);
    };
    link.onerror = (error) => {
      if (epoch !== this.epoch) return;
      const failure = isLinkFailure(error);
      if (failure) this.linkLost(error.message, epoch, failure === 'session-lost');
      else if (isResumeRefusal(error)) this.resumeRefused(error.message);
      else this.log.debug({ err: error }, 'remote transport error');
    };
    link.onclose = () => {
      if (epoch === this.epoch) this.linkLost('the connection closed', epoch);
    };
    const attaching = attach !== undefined && link instanceof WebSocketBackendTransport;
    try {
      try {
        await withTimeout(link.start(), this.timeoutMs, 'connecting');
      } catch (error) {
        if (!(error instanceof SessionNotAttached)) throw error;
        // The remote no longer has it (restarted, or past its grace): a new session, restored.
        this.log.info({ reason: error.message }, 'the session could not be attached again');
        this.attachable = undefined;
        this.held.release((entries) =>
          this.unresumable(entries, 'the remote no longer had the session'),
        );
        this.drop();
        return void this.connect();
      }
      if (!attaching && resuming && !(await this.resumeStreams(epoch))) {
        // The session is gone with the streams: a new link without its id, restored.
        this.drop();
        return void this.connect();
      }
      if (restoring && !resuming && !attaching) await this.restore(epoch);
    } catch (error) {
      return this.attemptFailed(epoch, error);
    }
    if (epoch !== this.epoch || this.closed) return;
    // What waited goes first, and the status file shows the link up with its queue empty.
    for (const message of this.queue.drain()) this.forward(message);
    if (restoring) this.reconnects++;
    this.setState('connected');
    this.writeStatus();
    if (restoring) {
      // The backoff starts over only once the restored link answers the client (fromRemote): a
      // remote that restores and then drops at once keeps the delays growing.
      this.tellClient(
        'info',
        `mcp-bridge: the connection to ${this.remote} is back; ${attaching ? 'the session was attached again' : resuming ? 'the session was still there, and its streams were resumed' : 'the session was restored'}`,
      );
    }
  }

  /**
   * On a link that carries the old session's id: whether the remote still has the session (a
   * ping is answered), and if so, the held requests' streams resumed from their last event ids.
   */
  private async resumeStreams(epoch: number): Promise<boolean> {
    try {
      await this.ask('ping', undefined);
    } catch (error) {
      if (classifySendFailure(error) !== 'session-lost') throw error;
      this.held.release((entries) => this.unresumable(entries));
      return false;
    }
    this.applyProtocolVersion();
    if (epoch !== this.epoch) throw new Error('the link was lost while resuming');
    if (this.link instanceof StreamableHTTPClientTransport)
      reopenGetStream(
        this.link,
        this.getStreamEventId,
        (id) => (this.getStreamEventId = id),
        this.log,
      );
    for (const [remoteId, entry] of this.held.take()) {
      entry.resumed = true;
      this.inFlight.set(remoteId, entry);
      this.transmit(withId(entry.request, remoteId), remoteId, entry.resumeToken);
    }
    return true;
  }

  /** A resumption the remote would not serve (an event id it no longer has): those requests fail. */
  private resumeRefused(reason: string): void {
    const refused: InFlight[] = [];
    for (const [remoteId, entry] of this.inFlight) {
      if (!entry.resumed) continue;
      this.inFlight.delete(remoteId);
      refused.push(entry);
    }
    this.unresumable(refused, reason);
  }

  private unresumable(entries: InFlight[], reason = 'its stream could not be resumed'): void {
    for (const entry of entries) {
      this.replyError(
        entry.request,
        'CONNECTOR_LINK_LOST',
        `the connection to ${this.remote} was lost while ${entry.request.method} was in flight and ${reason}; it may or may not have run, so it was not sent again`,
      );
    }
  }

  /** Re-initializes a session the remote lost, as the client first did, before anything else. */
  private async restore(epoch: number): Promise<void> {
    this.getStreamEventId = undefined;
    const reply = await this.ask('initialize', this.memo.initializeParams());
    if ('error' in reply) throw new Error(`the remote refused initialize: ${reply.error.message}`);
    const version = reply.result.protocolVersion;
    if (typeof version === 'string' && version) this.memo.protocolVersion = version;
    this.applyProtocolVersion();
    if (this.memo.initialized)
      this.transmit({ jsonrpc: '2.0', method: 'notifications/initialized' });
    for (const uri of this.memo.subscriptions) await this.ask('resources/subscribe', { uri });
    if (this.memo.logLevel) await this.ask('logging/setLevel', { level: this.memo.logLevel });
    if (epoch !== this.epoch) throw new Error('the link was lost during the restore');
  }

  /** A request of the connector's own on the link being restored. */
  private ask(method: string, params: Record<string, unknown> | undefined): Promise<JSONRPCReply> {
    return this.own.ask(this.link!, this.nextRemoteId++, method, params, this.timeoutMs);
  }

  private get timeoutMs(): number {
    return this.options.connectTimeoutMs ?? 10_000;
  }

  private attemptFailed(epoch: number, error: unknown): void {
    if (epoch !== this.epoch || this.closed) return;
    const detail = error instanceof Error ? error.message : String(error);
    this.log.debug({ reason: detail, attempt: this.attempt }, 'connection attempt failed');
    this.drop();
    this.lastError = detail;
    this.setState('reconnecting');
    // Refused credentials are no outage: what waits is answered now (the retries go on).
    if (isAuthRefusal(error))
      for (const m of this.queue.drain())
        if (isRequest(m)) this.replyError(m, 'CONNECTOR_REMOTE_REFUSED', detail);
    this.scheduleReconnect(this.advance(detail));
  }

  /**
   * After an attempt that failed: the next remote in the list, to be tried at once (true), or,
   * after the last, the primary again after the backoff delay (false).
   */
  private advance(reason: string): boolean {
    if (this.targets.length < 2) return false;
    const from = this.target.display;
    this.moveTo((this.at + 1) % this.targets.length);
    this.log.info({ from, to: this.remote, reason }, 'trying the next remote');
    return this.at !== 0;
  }

  private get target(): LinkTarget {
    return this.targets[this.at]!;
  }

  /** The remote as logs and the status file show it. */
  private get remote(): string {
    return this.target.display;
  }

  private moveTo(index: number): void {
    if (index === this.at) return;
    this.at = index;
    this.log = this.options.log.child({ remote: this.remote });
  }

  /** Forgets the current link: its late events are ignored from now on. */
  private drop(): void {
    this.epoch++;
    const link = this.link;
    this.link = undefined;
    this.own.failAll();
    if (!link) return;
    link.onmessage = undefined;
    link.onerror = undefined;
    link.onclose = undefined;
    link.close().catch(() => {});
  }

  /** The link broke: settle what was in flight, tell the client, and reconnect. */
  private linkLost(reason: string, epoch: number, immediate = false): void {
    if (epoch !== this.epoch || this.closed) return;
    const wasConnected = this.state === 'connected' && this.confirmed;
    // A link lost with its session still on the remote (not a 404): streams may be resumed, or
    // (the control dialect) the session attached to again with all its replies kept.
    const link = this.link;
    const controlSession =
      link instanceof WebSocketBackendTransport && this.memo.established
        ? link.sessionId
        : undefined;
    const session =
      !immediate && link instanceof StreamableHTTPClientTransport ? link.sessionId : controlSession;
    if (controlSession !== undefined)
      this.attachable = { sessionId: controlSession, target: this.at };
    this.drop();
    this.lastError = reason;
    this.setState('reconnecting');
    const { again, hold, lost } = triage(this.inFlight, {
      established: this.memo.established,
      session,
      keepsReplies: controlSession !== undefined,
    });
    for (const entry of lost) {
      this.replyError(
        entry.request,
        'CONNECTOR_LINK_LOST',
        `the connection to ${this.remote} was lost while ${entry.request.method} was in flight (${reason}); it may or may not have run, so it was not sent again`,
      );
    }
    this.inFlight.clear();
    this.queue.requeue(again);
    if (hold.size > 0)
      this.held.hold(session!, this.at, hold, this.queue.maxWaitMs, (entries) =>
        this.unresumable(entries, `its stream was not resumed within ${this.queue.maxWaitMs} ms`),
      );
    if (wasConnected) {
      this.tellClient(
        'warning',
        `mcp-bridge: lost the connection to ${this.remote} (${reason}); reconnecting, requests wait up to ${seconds(this.queue.maxWaitMs)}`,
      );
    }
    // A link that never carried a reply was a failed attempt (HTTP links connect on their first
    // request); one that was up and broke starts the list over: the primary may be back.
    let next = false;
    if (this.confirmed) this.moveTo(0);
    else next = this.advance(reason);
    this.scheduleReconnect(immediate || next);
  }

  private scheduleReconnect(immediate: boolean): void {
    clearTimeout(this.reconnectTimer);
    const delay = immediate ? 0 : backoffDelay(this.attempt++, this.options.backoff);
    this.reconnectTimer = setTimeout(() => void this.connect(), delay);
  }

  private setState(state: LinkState): void {
    if (this.state === state) return;
    this.state = state;
    this.since = Date.now();
    this.writeStatus();
  }

  private writeStatus(): void {
    if (!this.status && !channels.connectorLink.hasSubscribers) return;
    const snapshot = this.snapshot();
    this.status?.update(snapshot);
    if (channels.connectorLink.hasSubscribers) channels.connectorLink.publish(snapshot);
  }

  /** Ends the remote session (HTTP DELETE where there is one) and the client side. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.queue.drain();
    this.held.take();
    const link = this.link;
    if (link instanceof StreamableHTTPClientTransport && link.sessionId)
      await withTimeout(link.terminateSession(), this.timeoutMs, 'ending the session').catch(
        () => {},
      );
    this.drop();
    for (const target of this.targets) target.credentials.close?.();
    this.state = 'closed';
    this.since = Date.now();
    this.writeStatus();
    await this.status?.flush();
    await this.options.client.close().catch(() => {});
    this.markEnded();
  }
}
