import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClientTransport } from '../session/session.js';
import type { JSONRPCMessage } from '../core/jsonrpc.js';

import { GatewayError } from '../core/errors.js';
import { channels } from '../core/diagnostics.js';
import type { Logger } from '../core/logger.js';
import { claimSession } from '../session/ownership.js';
import { SseStream, accepts, parseMessages, readBody, refuseEncodedBody } from './http-io.js';
import { sendHttpError } from '../http/error-reply.js';
import type { FrontendOptions, SessionHandle, PeerInfo } from './types.js';
import { encodeMessage } from '../core/raw-json.js';

export interface LegacySseOptions extends FrontendOptions {
  /**
   * Path clients POST their messages to. The `endpoint` event announces it with the session id
   * as a relative URI, which clients resolve against the URL of the stream.
   */
  messagesPath: string;
  /** Interval of keepalive comments on every open stream. @default 25_000 */
  keepaliveMs?: number;
}

/**
 * The server side of one HTTP+SSE connection (MCP 2024-11-05): everything the session sends goes
 * out on its one event stream; what the client POSTs comes in through `deliver`.
 */
class LegacySseSessionTransport implements ClientTransport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;

  readonly sessionId = randomUUID();
  private stream: SseStream | undefined;
  /** What the session sent before the stream was started: a backend may speak as it starts. */
  private early: string[] = [];
  private closed = false;

  constructor(private readonly ended: () => void) {}

  get isClosed(): boolean {
    return this.closed;
  }

  async start(): Promise<void> {}

  /** Starts the event stream on `res`; the first event tells the client where to POST. */
  attach(res: ServerResponse, endpoint: string): void {
    const stream = new SseStream(res);
    this.stream = stream;
    res.write(`event: endpoint\ndata: ${endpoint}\n\n`);
    for (const json of this.early) stream.write(json);
    this.early = [];
    // The stream is the session's lifetime: a client that hangs up has left for good.
    res.once('close', () => void this.close());
  }

  deliver(messages: JSONRPCMessage[]): void {
    for (const message of messages) {
      if (this.closed) return;
      this.onmessage?.(message);
    }
  }

  keepalive(): void {
    this.stream?.keepalive();
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (this.closed) throw new GatewayError('GATEWAY_SESSION_CLOSED', 'the SSE stream has closed');
    const json = encodeMessage(message);
    if (channels.bytes.hasSubscribers)
      channels.bytes.publish({
        transport: 'sse',
        direction: 'out',
        bytes: Buffer.byteLength(json),
      });
    if (!this.stream) this.early.push(json);
    else if (!this.stream.write(json))
      throw new GatewayError('GATEWAY_SESSION_CLOSED', 'the SSE stream has closed');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stream?.end();
    this.early = [];
    this.ended();
    this.onclose?.();
  }
}

interface Entry {
  transport: LegacySseSessionTransport;
  handle: SessionHandle;
}

/**
 * The legacy HTTP+SSE frontend (MCP 2024-11-05), for clients that predate Streamable HTTP:
 * `GET` opens a session and its event stream, `POST <messagesPath>?sessionId=…` carries client
 * messages, answered 202 at once; every reply travels on the stream.
 */
export class LegacySseHandler {
  private readonly sessions = new Map<string, Entry>();
  private readonly log: Logger;
  private readonly keepalive: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: LegacySseOptions) {
    this.log = options.log;
    // One timer for every stream, not one per stream.
    this.keepalive = setInterval(() => {
      for (const { transport } of this.sessions.values()) transport.keepalive();
    }, options.keepaliveMs ?? 25_000).unref();
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /**
   * `GET` on the stream path: opens a session and streams it to the client. `messagesPath` is
   * the path its `endpoint` event names, when not the handler's own (seed 001's `/mcp/send`).
   */
  handleStream(
    req: IncomingMessage,
    res: ServerResponse,
    peer: PeerInfo = {},
    messagesPath = this.options.messagesPath,
  ): void {
    if (channels.connectionOpen.hasSubscribers) countConnection(res);
    if (!accepts(req.headers.accept, 'text/event-stream')) {
      sendHttpError(
        res,
        new GatewayError('GATEWAY_NOT_ACCEPTABLE', 'the Accept header must list text/event-stream'),
      );
      return;
    }
    void this.open(res, peer, messagesPath);
  }

  private async open(res: ServerResponse, peer: PeerInfo, messagesPath: string): Promise<void> {
    let hungUp = false;
    res.once('close', () => (hungUp = true));
    const transport = new LegacySseSessionTransport(() => {
      if (this.sessions.get(transport.sessionId)?.transport === transport)
        this.sessions.delete(transport.sessionId);
    });
    let handle: SessionHandle;
    try {
      handle = await this.options.openSession(transport, 'sse', peer);
    } catch (error) {
      this.log.warn({ err: error }, 'could not open a session');
      // No stream has started, so the client gets the failure as a plain HTTP error (502).
      sendHttpError(res, error);
      return;
    }
    if (hungUp || this.closed) {
      await handle.close(hungUp ? 'client left while the session opened' : 'gateway shutting down');
      if (!hungUp) sendHttpError(res, new GatewayError('GATEWAY_SHUTTING_DOWN'));
      return;
    }
    if (transport.isClosed) {
      sendHttpError(
        res,
        new GatewayError(
          'GATEWAY_BACKEND_UNAVAILABLE',
          'the backend ended while the session was opening',
        ),
      );
      return;
    }
    this.sessions.set(transport.sessionId, { transport, handle });
    transport.attach(res, `${messagesPath}?sessionId=${encodeURIComponent(transport.sessionId)}`);
  }

  /** `POST` on the messages path: hands the body's message(s) to the session it names. */
  async handleMessage(
    req: IncomingMessage,
    res: ServerResponse,
    peer: PeerInfo = {},
  ): Promise<void> {
    if (channels.connectionOpen.hasSubscribers) countConnection(res);
    try {
      const entry = this.lookup(req.url);
      claimSession(entry.handle, peer.principal, 'sse');
      const type = req.headers['content-type'];
      if (!type || type.split(';', 1)[0]!.trim().toLowerCase() !== 'application/json') {
        throw new GatewayError(
          'GATEWAY_UNSUPPORTED_MEDIA_TYPE',
          'the Content-Type must be application/json',
        );
      }
      refuseEncodedBody(req);
      const body = await readBody(req, this.options.maxMessageBytes);
      if (channels.bytes.hasSubscribers)
        channels.bytes.publish({ transport: 'sse', direction: 'in', bytes: body.length });
      const { messages } = parseMessages(body, this.options.maxDepth);
      // The stream may have closed while the body was read.
      if (entry.transport.isClosed) throw sessionNotFound();
      res.writeHead(202).end();
      entry.transport.deliver(messages);
    } catch (error) {
      if (!(error instanceof GatewayError))
        this.log.error({ err: error }, 'legacy SSE message failed');
      sendHttpError(res, error);
    }
  }

  private lookup(url: string | undefined): Entry {
    const q = url?.indexOf('?') ?? -1;
    const id = q === -1 ? null : new URLSearchParams(url!.slice(q + 1)).get('sessionId');
    if (!id) {
      throw new GatewayError(
        'GATEWAY_SESSION_REQUIRED',
        'add the sessionId query parameter from the endpoint event',
      );
    }
    const entry = this.sessions.get(id);
    if (!entry) throw sessionNotFound();
    return entry;
  }

  /** Ends every session and its stream (gateway shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.keepalive);
    const entries = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.allSettled(entries.map((entry) => entry.handle.close('gateway shutting down')));
  }
}

function countConnection(res: ServerResponse): void {
  channels.connectionOpen.publish({ transport: 'sse' });
  res.once('close', () => channels.connectionClose.publish({ transport: 'sse' }));
}

function sessionNotFound(): GatewayError {
  return new GatewayError(
    'GATEWAY_SESSION_NOT_FOUND',
    'its stream has closed or it never existed; open a new stream',
  );
}
