import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type {
  JSONRPCMessage,
  JSONRPCNotification,
  JSONRPCReply,
  JSONRPCRequest,
  RequestId,
} from '../core/jsonrpc.js';
import { isNotification, isReply, isRequest } from '../core/jsonrpc.js';
import type { GatewayErrorCode } from '../core/errors.js';
import { GatewayError, toErrorReply } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { withId } from '../core/raw-json.js';
import { SAFE_METHODS } from '../policies/retry.js';
import { backoffDelay } from './backoff.js';
import type { BackoffOptions } from './backoff.js';
import { WaitQueue } from './queue.js';
import type { WaitQueueOptions } from './queue.js';
import type { CredentialsProvider } from './credentials.js';
import { StaticCredentials } from './credentials.js';
import { StatusFile, displayUrl } from './status-file.js';
import type { ConnectorStatus } from './status-file.js';
import {
  classifySendFailure,
  createLink,
  describeSendFailure,
  isLinkFailure,
  meansNoStreamableHttp,
} from './remote-link.js';
import { transportsFor } from './remote-link.js';
import type { ConnectTransport, ResolvedTransport } from './remote-link.js';
import { RestoreMemo } from './restore-memo.js';
import { LOG_LEVELS } from '../core/jsonrpc.js';

export interface ConnectorOptions {
  /** The remote gateway or server: http(s)://, ws(s):// or tcp(s)://. */
  url: string;
  /**
   * How to reach it; `auto` tries Streamable HTTP, then legacy SSE.
   * @default by the URL's scheme: `auto` for http(s), `websocket` for ws(s), `tcp` for tcp(s)
   */
  transport?: ConnectTransport;
  /** The desktop client's side: the stdio server transport, started by the connector. */
  client: Transport;
  log: Logger;
  /** Headers and tokens, asked for on every (re)connect. @default no credentials */
  credentials?: CredentialsProvider;
  /** Bounds of the queue of requests made while the link is down. @default { maxSize: 100, maxWaitMs: 60_000 } */
  queue?: WaitQueueOptions;
  /** Delays between reconnection attempts. @default { initialMs: 500, maxMs: 30_000 } */
  backoff?: BackoffOptions;
  /** How long one attempt (connect, and the restore handshake) may take. @default 10_000 */
  connectTimeoutMs?: number;
  /** Where to keep a JSON status file (state, since, reconnects, queue depth). @default undefined */
  statusFile?: string;
  /** Largest message accepted from the remote (WebSocket, TCP), in bytes. @default 16 MiB */
  maxMessageBytes?: number;
}

export type LinkState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

/** A client request sent to the remote under an id of the connector's. */
interface InFlight {
  clientId: RequestId;
  request: JSONRPCRequest;
  /** The remote said it did not run it (404, unreachable): safe to send again, whatever it is. */
  notRun?: boolean;
}

/** Requests re-sent after a break: those that change nothing, plus the ones a restore replays. */
const RESENDABLE = new Set([
  ...SAFE_METHODS,
  'logging/setLevel',
  'resources/subscribe',
  'resources/unsubscribe',
]);

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
  private kind: ResolvedTransport;
  /** `auto` has not yet seen which HTTP transport the remote speaks. */
  private autoPending: boolean;
  private attempt = 0;
  /** The current link has carried a reply: it really is up (an HTTP link is up only in name until then). */
  private confirmed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private nextRemoteId = 1;
  private nextClientFacingId = 1;
  private readonly inFlight = new Map<number, InFlight>();
  /** The connector's own requests (the restore handshake), by remote id. */
  private readonly handshake = new Map<number, (reply: JSONRPCReply | Error) => void>();
  /** Server requests sent to the client, by the id the client sees. */
  private readonly toClient = new Map<number, { epoch: number; remoteId: RequestId }>();
  private readonly memo = new RestoreMemo();
  private readonly queue: WaitQueue<JSONRPCMessage>;
  private readonly credentials: CredentialsProvider;
  private readonly status: StatusFile | undefined;
  private readonly log: Logger;
  private readonly remote: string;
  private closed = false;
  private markEnded!: () => void;
  /** Resolves once the connector has closed (the client left, or `close` was called). */
  readonly ended = new Promise<void>((resolve) => (this.markEnded = resolve));

  constructor(private readonly options: ConnectorOptions) {
    const inferred = transportsFor(new URL(options.url)).auto;
    const transport =
      options.transport === undefined || options.transport === 'auto'
        ? inferred
        : options.transport;
    this.kind = transport === 'auto' ? 'streamable-http' : transport;
    this.autoPending = transport === 'auto';
    this.credentials = options.credentials ?? new StaticCredentials();
    this.remote = displayUrl(options.url);
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
      transport: this.autoPending ? 'auto' : this.kind,
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
    this.log.info({ credentials: this.credentials.describe() }, 'connector ready');
    this.writeStatus();
  }

  // ── from the client ────────────────────────────────────────────────────────────────────

  private fromClient(message: JSONRPCMessage): void {
    if (this.closed) return;
    if (isReply(message)) return this.replyFromClient(message);
    if (isRequest(message)) this.memo.note(message);
    if (isNotification(message)) {
      if (message.method === 'notifications/initialized') this.memo.initialized = true;
      if (message.method === 'notifications/cancelled') return this.cancelFromClient(message);
    }
    if (this.state === 'connected') this.forward(message);
    else this.enqueue(message);
    if (this.state === 'idle') void this.connect();
  }

  private replyFromClient(reply: JSONRPCReply): void {
    const entry = typeof reply.id === 'number' ? this.toClient.get(reply.id) : undefined;
    if (!entry) return;
    this.toClient.delete(reply.id as number);
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
          message.id,
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
        message.id,
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

  private transmit(message: JSONRPCMessage, remoteId?: number): void {
    const link = this.link;
    const epoch = this.epoch;
    if (!link) return;
    link.send(message).catch((error: unknown) => this.sendFailed(error, epoch, remoteId));
  }

  private sendFailed(error: unknown, epoch: number, remoteId: number | undefined): void {
    if (epoch !== this.epoch || this.closed) return;
    const failure = classifySendFailure(error);
    if (failure === 'closed') return;
    const entry = remoteId === undefined ? undefined : this.inFlight.get(remoteId);
    const detail = describeSendFailure(error);
    if (
      this.autoPending &&
      entry?.request.method === 'initialize' &&
      meansNoStreamableHttp(error)
    ) {
      // The verdict is kept: every reconnection uses SSE from now on.
      this.log.info('the remote does not speak Streamable HTTP; trying legacy SSE');
      this.kind = 'sse';
      this.inFlight.delete(remoteId!);
      this.drop();
      this.queue.requeue([entry.request]);
      return this.scheduleReconnect(true);
    }
    if (failure === 'refused') {
      if (!entry) return void this.log.warn({ reason: detail }, 'the remote refused a message');
      this.inFlight.delete(remoteId!);
      return this.replyError(entry.clientId, 'CONNECTOR_REMOTE_REFUSED', detail);
    }
    if (entry && (failure === 'session-lost' || failure === 'not-delivered')) entry.notRun = true;
    this.linkLost(detail, epoch, failure === 'session-lost');
  }

  // ── from the remote ────────────────────────────────────────────────────────────────────

  private fromRemote(message: JSONRPCMessage): void {
    this.confirmed = true;
    if (isReply(message)) {
      const id = message.id as number;
      const waiting = this.handshake.get(id);
      if (waiting) {
        this.handshake.delete(id);
        return waiting(message);
      }
      const entry = this.inFlight.get(id);
      if (!entry) return;
      this.inFlight.delete(id);
      this.attempt = 0;
      if (entry.request.method === 'initialize' && 'result' in message)
        this.established(message.result);
      return this.toClientSend(withId(message, entry.clientId));
    }
    if (isRequest(message)) {
      const id = this.nextClientFacingId++;
      this.toClient.set(id, { epoch: this.epoch, remoteId: message.id });
      return this.toClientSend(withId(message, id));
    }
    if (message.method === 'notifications/cancelled') {
      const params = message.params;
      for (const [id, entry] of this.toClient) {
        if (entry.epoch !== this.epoch || entry.remoteId !== params?.requestId) continue;
        this.toClient.delete(id);
        return this.toClientSend({ ...message, params: { ...params, requestId: id } });
      }
      return;
    }
    this.toClientSend(message);
  }

  /** The remote answered the client's initialize: there is a session to restore from now on. */
  private established(result: Record<string, unknown>): void {
    this.memo.established = true;
    this.autoPending = false;
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

  private replyError(id: RequestId, code: GatewayErrorCode, detail: string): void {
    this.toClientSend(toErrorReply(id, new GatewayError(code, detail)));
  }

  /** A log notification to the desktop client, at a level it asked for. */
  private tellClient(level: 'info' | 'warning', text: string): void {
    this.log[level === 'info' ? 'info' : 'warn'](text);
    if (!this.memo.established || !this.memo.initialized) return;
    const wanted = LOG_LEVELS.indexOf(this.memo.logLevel ?? 'debug');
    if (LOG_LEVELS.indexOf(level) < wanted) return;
    this.toClientSend({
      jsonrpc: '2.0',
      method: 'notifications/message',
      params: { level, logger: 'mcp-bridge-connector', data: text },
    });
  }

  // ── the link ───────────────────────────────────────────────────────────────────────────

  private async connect(): Promise<void> {
    if (this.closed) return;
    const epoch = ++this.epoch;
    const restoring = this.memo.established;
    this.confirmed = false;
    if (this.state === 'idle') this.setState('connecting');
    let link: Transport;
    try {
      link = createLink(this.kind, {
        url: this.options.url,
        headers: await this.credentials.headers(),
        log: this.log,
        maxMessageBytes: this.options.maxMessageBytes ?? 16 * 1024 * 1024,
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
      else this.log.debug({ err: error }, 'remote transport error');
    };
    link.onclose = () => {
      if (epoch === this.epoch) this.linkLost('the connection closed', epoch);
    };
    try {
      await this.withTimeout(link.start(), 'connecting');
      if (restoring) await this.restore(epoch);
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
        `mcp-bridge: the connection to ${this.remote} is back; the session was restored`,
      );
    }
  }

  /** Re-initializes a session the remote lost, as the client first did, before anything else. */
  private async restore(epoch: number): Promise<void> {
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
    const link = this.link!;
    const id = this.nextRemoteId++;
    const answer = new Promise<JSONRPCReply>((resolve, reject) => {
      this.handshake.set(id, (reply) => (reply instanceof Error ? reject(reply) : resolve(reply)));
    });
    link
      .send({ jsonrpc: '2.0', id, method, ...(params && { params }) })
      .catch((error: unknown) => this.handshake.get(id)?.(error as Error));
    return this.withTimeout(answer, method).finally(() => this.handshake.delete(id));
  }

  private withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
    const ms = this.options.connectTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  private attemptFailed(epoch: number, error: unknown): void {
    if (epoch !== this.epoch || this.closed) return;
    const detail = error instanceof Error ? error.message : String(error);
    this.log.debug({ reason: detail, attempt: this.attempt }, 'connection attempt failed');
    this.drop();
    this.lastError = detail;
    this.setState('reconnecting');
    this.scheduleReconnect(false);
  }

  /** Forgets the current link: its late events are ignored from now on. */
  private drop(): void {
    this.epoch++;
    const link = this.link;
    this.link = undefined;
    for (const answer of this.handshake.values()) answer(new Error('the link was lost'));
    this.handshake.clear();
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
    this.drop();
    this.lastError = reason;
    this.setState('reconnecting');
    const again: JSONRPCMessage[] = [];
    for (const entry of this.inFlight.values()) {
      const { method } = entry.request;
      const firstContact = method === 'initialize' && !this.memo.established;
      if (entry.notRun || RESENDABLE.has(method) || firstContact) {
        again.push(entry.request);
        continue;
      }
      this.replyError(
        entry.clientId,
        'CONNECTOR_LINK_LOST',
        `the connection to ${this.remote} was lost while ${method} was in flight (${reason}); it may or may not have run, so it was not sent again`,
      );
    }
    this.inFlight.clear();
    this.queue.requeue(again);
    if (wasConnected) {
      this.tellClient(
        'warning',
        `mcp-bridge: lost the connection to ${this.remote} (${reason}); reconnecting, requests wait up to ${seconds(this.queue.maxWaitMs)}`,
      );
    }
    this.scheduleReconnect(immediate);
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
    this.status?.update(this.snapshot());
  }

  /** Ends the remote session (HTTP DELETE where there is one) and the client side. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.queue.drain();
    const link = this.link;
    if (link instanceof StreamableHTTPClientTransport && link.sessionId)
      await this.withTimeout(link.terminateSession(), 'ending the session').catch(() => {});
    this.drop();
    this.state = 'closed';
    this.since = Date.now();
    this.writeStatus();
    await this.status?.flush();
    await this.options.client.close().catch(() => {});
    this.markEnded();
  }
}

function seconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 100) / 10} s`;
}
