import type { TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, JSONRPCReply, RequestId } from '../core/jsonrpc.js';
import { isReply, isRequest } from '../core/jsonrpc.js';
import type { EventStore } from '../frontends/event-store.js';
import { MemoryEventStore } from '../frontends/event-store.js';
import {
  StreamableHttpSessionTransport,
  type StreamableHttpSessionOptions,
} from '../frontends/streamable-http-session.js';

/*
 * The Streamable HTTP session transport of a cluster member: the same transport, which also
 * tells the cluster what a session must keep to continue on another replica (the client's
 * `initialize`, its subscriptions and log level, which requests are answered on which stream),
 * and which can replay the client's handshake into a new backend itself, without the client.
 */

/** What the transport reports; the cluster node writes it to Redis. */
export interface SessionRecorder {
  /** The client's initialize succeeded: the session's record must exist before it hears so. */
  initialized(sessionId: string, init: string, version: string): Promise<void>;
  subscribed(sessionId: string, uri: string, on: boolean): void;
  logLevel(sessionId: string, level: string): void;
  /** A request's reply goes out on `stream` (undefined: it has been sent). */
  streamed(sessionId: string, id: string, stream: string | undefined): void;
  /** The session ended here for good (not handed over, not fenced). */
  ended(sessionId: string): void;
}

const INTERNAL = 'mcp-bridge:replay:';

export class ClusterSessionTransport extends StreamableHttpSessionTransport {
  /** Set before a close that must leave the record in Redis (handed over, fenced). */
  keepRecord = false;
  private init: JSONRPCRequestLike | undefined;
  private readonly streamedIds = new Set<string>();
  private readonly internal = new Map<string, (reply: JSONRPCReply) => void>();
  private internalSeq = 0;
  /** Requests seen in deliver that change what the record says, by id, until their reply. */
  private readonly pendingChanges = new Map<RequestId, () => void>();

  constructor(
    sessionId: string,
    options: StreamableHttpSessionOptions,
    private readonly recorder: SessionRecorder,
  ) {
    super(sessionId, {
      ...options,
      onStream: (stream, ids) => {
        for (const id of ids) {
          const key = JSON.stringify(id);
          this.streamedIds.add(key);
          recorder.streamed(sessionId, key, stream);
        }
      },
    });
  }

  override deliver(messages: JSONRPCMessage[]): void {
    for (const message of messages) {
      if (!isRequest(message)) continue;
      switch (message.method) {
        case 'initialize':
          this.init = message as JSONRPCRequestLike;
          break;
        case 'resources/subscribe':
        case 'resources/unsubscribe': {
          const uri = message.params?.uri;
          if (typeof uri === 'string') {
            const on = message.method === 'resources/subscribe';
            this.pendingChanges.set(message.id, () =>
              this.recorder.subscribed(this.sessionId, uri, on),
            );
          }
          break;
        }
        case 'logging/setLevel': {
          const level = message.params?.level;
          if (typeof level === 'string')
            this.pendingChanges.set(message.id, () =>
              this.recorder.logLevel(this.sessionId, level),
            );
          break;
        }
      }
    }
    super.deliver(messages);
  }

  override async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (isReply(message) && message.id !== undefined && message.id !== null) {
      const id = message.id;
      if (typeof id === 'string' && id.startsWith(INTERNAL)) {
        const waiter = this.internal.get(id);
        this.internal.delete(id);
        waiter?.(message);
        return;
      }
      const change = this.pendingChanges.get(id);
      if (change) {
        this.pendingChanges.delete(id);
        if ('result' in message) change();
      }
      if (this.init !== undefined && id === this.init.id) {
        const init = this.init;
        this.init = undefined;
        const version = 'result' in message ? message.result.protocolVersion : undefined;
        if ('result' in message)
          await this.recorder.initialized(
            this.sessionId,
            JSON.stringify(init),
            String(version ?? ''),
          );
      }
      if (this.streamedIds.size > 0) {
        const key = JSON.stringify(id);
        if (this.streamedIds.delete(key)) this.recorder.streamed(this.sessionId, key, undefined);
      }
    }
    return super.send(message, options);
  }

  /** Sends a request to the session as if the client had, and waits for its reply (not the client's). */
  ask(
    method: string,
    params: Record<string, unknown> | undefined,
    timeoutMs: number,
  ): Promise<JSONRPCReply> {
    const id = `${INTERNAL}${++this.internalSeq}`;
    return new Promise<JSONRPCReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.internal.delete(id);
        reject(new Error(`${method} was not answered in ${timeoutMs} ms`));
      }, timeoutMs);
      this.internal.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      super.deliver([
        { jsonrpc: '2.0', id, method, ...(params !== undefined && { params }) } as JSONRPCMessage,
      ]);
    });
  }

  /** A notification to the session as if from the client. */
  tell(method: string): void {
    super.deliver([{ jsonrpc: '2.0', method } as JSONRPCMessage]);
  }

  override async close(): Promise<void> {
    if (this.isClosed) return;
    await super.close();
    if (!this.keepRecord) this.recorder.ended(this.sessionId);
  }
}

interface JSONRPCRequestLike {
  jsonrpc: '2.0';
  id: RequestId;
  method: string;
  params?: Record<string, unknown>;
}

/** Mirrors one event to Redis; told whether it is the stream's first there. */
export interface EventMirror {
  append(sessionId: string, streamId: string, seq: number, json: string, first: boolean): void;
  replay(
    sessionId: string,
    streamId: string,
    seq: number,
  ): Promise<Array<{ seq: number; json: string }> | undefined>;
  /** Whether the session's events in Redis must stay when its local copy goes (handover, fencing). */
  keeps(sessionId: string): boolean;
}

/**
 * The event store of a cluster member: events are kept in memory, as on a single gateway (a
 * resume on the same replica reads them there), and mirrored to Redis, so that a resume that
 * lands on another replica (the owner died) finds them too.
 */
export class ClusterEventStore implements EventStore {
  private readonly local = new MemoryEventStore();
  private readonly mirrored = new Map<string, Set<string>>();

  constructor(private readonly mirror: EventMirror) {}

  append(sessionId: string, streamId: string, seq: number, json: string): void {
    this.local.append(sessionId, streamId, seq, json);
    let streams = this.mirrored.get(sessionId);
    if (!streams) this.mirrored.set(sessionId, (streams = new Set()));
    const first = !streams.has(streamId);
    if (first) streams.add(streamId);
    this.mirror.append(sessionId, streamId, seq, json, first);
  }

  async replay(
    sessionId: string,
    streamId: string,
    seq: number,
  ): Promise<Array<{ seq: number; json: string }> | undefined> {
    return (
      (await this.local.replay(sessionId, streamId, seq)) ??
      this.mirror.replay(sessionId, streamId, seq)
    );
  }

  drop(sessionId: string): void {
    this.local.drop(sessionId);
    this.mirrored.delete(sessionId);
  }
}
