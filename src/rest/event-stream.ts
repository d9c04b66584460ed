import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RestEvent } from './client-transport.js';
import type { RestSession } from './rest-session.js';

/*
 * A REST session's `/events` stream (seed 000's `GET /events/{session_id}`): `connected` at once,
 * then the session's events (progress, log, notification, server_request, …) with their ids, so
 * that a client cut off resumes with `Last-Event-ID`, and a `heartbeat` every interval. The stream
 * ends with a `closed` event when the session does.
 */

function frame(event: string, data: unknown, id?: number): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export function serveEvents(
  req: IncomingMessage,
  res: ServerResponse,
  session: RestSession,
  heartbeatMs: number,
): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write(
    frame('connected', {
      session_id: session.id,
      server_name: session.endpoint,
      heartbeat_interval_ms: heartbeatMs,
    }),
  );
  const header = req.headers['last-event-id'];
  const lastEventId =
    typeof header === 'string' && /^\d+$/.test(header) ? Number(header) : undefined;
  let ended = false;
  const heartbeat = setInterval(() => {
    if (!res.destroyed) res.write(frame('heartbeat', { timestamp: new Date().toISOString() }));
  }, heartbeatMs);
  heartbeat.unref();
  let unsubscribe = (): void => {};
  const end = () => {
    if (ended) return;
    ended = true;
    clearInterval(heartbeat);
    unsubscribe();
    res.end();
  };
  unsubscribe = session.transport.subscribe((event: RestEvent) => {
    if (ended || res.destroyed) return;
    res.write(frame(event.event, event.data, event.id));
    if (event.event === 'closed') end();
  }, lastEventId);
  if (ended) {
    unsubscribe();
    return;
  }
  res.once('close', end);
  if (session.transport.isClosed) {
    res.write(frame('closed', { reason: 'the session has ended' }));
    end();
  }
}
