/**
 * Keeps what was sent on resumable SSE streams, so a client that lost a stream can reconnect
 * with `Last-Event-ID` and get what it missed. Event ids are `<stream>_<sequence>`, assigned by
 * the transport in send order; a store only keeps and replays them. An in-memory store serves a
 * single gateway; a shared store (Redis) lets another replica resume a stream.
 */
export interface EventStore {
  /** Keeps one event. Called in send order for each stream. */
  append(sessionId: string, streamId: string, seq: number, json: string): void;
  /**
   * The events of `streamId` after `seq`, in order; `undefined` when the store no longer holds
   * the event the client saw last (evicted), so a gap cannot be ruled out.
   */
  replay(
    sessionId: string,
    streamId: string,
    seq: number,
  ): Promise<Array<{ seq: number; json: string }> | undefined>;
  /** Forgets a session's events. */
  drop(sessionId: string): void;
}

export function eventId(streamId: string, seq: number): string {
  return `${streamId}_${seq}`;
}

/** Splits a Last-Event-ID into its stream and sequence, or undefined if it is not one of ours. */
export function parseEventId(id: string): { streamId: string; seq: number } | undefined {
  const at = id.lastIndexOf('_');
  if (at <= 0) return undefined;
  const seq = Number(id.slice(at + 1));
  if (!Number.isSafeInteger(seq) || seq < 0) return undefined;
  return { streamId: id.slice(0, at), seq };
}

export interface MemoryEventStoreOptions {
  /** Events kept per session, oldest dropped first. @default 1000 */
  maxEvents?: number;
  /** Bytes of event data kept per session, oldest dropped first. @default 32 MiB */
  maxBytes?: number;
}

interface Kept {
  streamId: string;
  seq: number;
  json: string;
}

interface SessionLog {
  events: Kept[];
  head: number;
  bytes: number;
  /** Per stream, the lowest sequence still kept; a replay from below it has a gap. */
  firstSeq: Map<string, number>;
}

export class MemoryEventStore implements EventStore {
  private readonly sessions = new Map<string, SessionLog>();
  private readonly maxEvents: number;
  private readonly maxBytes: number;

  constructor(options: MemoryEventStoreOptions = {}) {
    this.maxEvents = options.maxEvents ?? 1000;
    this.maxBytes = options.maxBytes ?? 32 * 1024 * 1024;
  }

  append(sessionId: string, streamId: string, seq: number, json: string): void {
    let log = this.sessions.get(sessionId);
    if (!log)
      this.sessions.set(sessionId, (log = { events: [], head: 0, bytes: 0, firstSeq: new Map() }));
    log.events.push({ streamId, seq, json });
    log.bytes += json.length;
    if (!log.firstSeq.has(streamId)) log.firstSeq.set(streamId, seq);
    while (
      log.events.length - log.head > this.maxEvents ||
      (log.bytes > this.maxBytes && log.events.length - log.head > 1)
    ) {
      const old = log.events[log.head++]!;
      log.bytes -= old.json.length;
      log.firstSeq.set(old.streamId, old.seq + 1);
    }
    // Compact now and then instead of shifting on every eviction.
    if (log.head > 1024 && log.head * 2 > log.events.length) {
      log.events = log.events.slice(log.head);
      log.head = 0;
    }
  }

  async replay(
    sessionId: string,
    streamId: string,
    seq: number,
  ): Promise<Array<{ seq: number; json: string }> | undefined> {
    const log = this.sessions.get(sessionId);
    const first = log?.firstSeq.get(streamId);
    if (!log || first === undefined || seq + 1 < first) return undefined;
    const out: Array<{ seq: number; json: string }> = [];
    for (let i = log.head; i < log.events.length; i++) {
      const e = log.events[i]!;
      if (e.streamId === streamId && e.seq > seq) out.push({ seq: e.seq, json: e.json });
    }
    return out;
  }

  drop(sessionId: string): void {
    this.sessions.delete(sessionId);
  }
}
