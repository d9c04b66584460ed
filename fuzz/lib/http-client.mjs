/*
 * Two ways to send HTTP: node:http with a keep-alive agent for requests Node can express (most
 * of them, and fast), and a raw socket for what it refuses to write (a Content-Length that lies,
 * a malformed head, an unknown method). Both resolve, never reject: an outcome is a response,
 * `{ error: 'reset' | 'timeout' }`, or, for an SSE GET, the head alone.
 */
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';

/**
 * Sends one request. `stream: 'head'` resolves once the head arrives (for long-lived SSE GETs);
 * otherwise the whole body is read. Bodies over `maxBody` are cut (and flagged).
 */
export async function send(agent, request) {
  const outcome = await sendOnce(agent, request);
  // A keep-alive socket the server closed while we picked it up: the race every HTTP client
  // retries (Node's docs say so); a fresh connection that resets too is the gateway's doing.
  if (outcome.error === 'reset' && outcome.reusedSocket)
    return { ...(await sendOnce(false, request)), retried: true };
  return outcome;
}

function sendOnce(
  agent,
  { port, method, path, headers, body, deadlineMs, stream, maxBody = 4 << 20 },
) {
  return new Promise((resolve) => {
    let done = false;
    const finish = (outcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    let req;
    try {
      req = httpRequest({
        agent,
        host: '127.0.0.1',
        port,
        method,
        path,
        headers,
        setHost: !('host' in headers),
      });
    } catch (error) {
      return finish({ error: 'refused-by-client', detail: String(error.message) });
    }
    const timer = setTimeout(() => {
      finish({ error: 'timeout' });
      req.destroy();
    }, deadlineMs);
    req.on('error', (error) =>
      finish({
        error: 'reset',
        detail: error.code ?? error.message,
        reusedSocket: req.reusedSocket && error.code === 'ECONNRESET',
      }),
    );
    req.on('response', (res) => {
      const ctype = String(res.headers['content-type'] ?? '');
      if (stream === 'head' && ctype.includes('text/event-stream')) {
        finish({
          status: res.statusCode,
          headers: res.headers,
          body: Buffer.alloc(0),
          streaming: true,
        });
        res.destroy();
        return;
      }
      const chunks = [];
      let size = 0;
      res.on('data', (c) => {
        size += c.length;
        if (size <= maxBody) chunks.push(c);
      });
      res.on('end', () =>
        finish({
          status: res.statusCode,
          headers: res.headers,
          body: Buffer.concat(chunks),
          cut: size > maxBody,
        }),
      );
      res.on('error', (error) =>
        finish({ error: 'reset', detail: error.code ?? error.message, status: res.statusCode }),
      );
      res.on('aborted', () =>
        finish({ error: 'reset', detail: 'aborted', status: res.statusCode }),
      );
    });
    req.end(body);
  });
}

/** Parses the first HTTP response in `buf` (latin1 head, Content-Length or chunked body). */
export function parseResponse(buf) {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const head = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '');
  if (!m) return { status: 0, headers: {}, body: buf, complete: true, garbled: true };
  const headers = {};
  for (const line of head.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const rest = buf.subarray(headEnd + 4);
  const status = Number(m[1]);
  if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    return { status, headers, body: rest.subarray(0, n), complete: rest.length >= n };
  }
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const parts = [];
    let i = 0;
    for (;;) {
      const eol = rest.indexOf('\r\n', i);
      if (eol < 0) return { status, headers, body: Buffer.concat(parts), complete: false };
      const size = parseInt(rest.subarray(i, eol).toString('latin1'), 16);
      if (size === 0) return { status, headers, body: Buffer.concat(parts), complete: true };
      if (rest.length < eol + 2 + size)
        return { status, headers, body: Buffer.concat(parts), complete: false };
      parts.push(rest.subarray(eol + 2, eol + 2 + size));
      i = eol + 4 + size;
    }
  }
  if (status === 204 || status === 304 || (status >= 100 && status < 200))
    return { status, headers, body: Buffer.alloc(0), complete: true };
  return { status, headers, body: rest, complete: false, untilClose: true };
}

/** Writes `bytes` on a fresh socket and reads the first response, until `deadlineMs`. */
export function sendRaw({ port, bytes, deadlineMs }) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks = [];
    let done = false;
    const finish = (outcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => {
      const parsed = parseResponse(Buffer.concat(chunks));
      finish(parsed ? { ...parsed, cutByDeadline: true } : { error: 'timeout' });
    }, deadlineMs);
    socket.on('data', (c) => {
      chunks.push(c);
      const parsed = parseResponse(Buffer.concat(chunks));
      if (parsed?.complete) finish(parsed);
    });
    socket.on('error', (error) => {
      const parsed = parseResponse(Buffer.concat(chunks));
      finish(parsed ?? { error: 'reset', detail: error.code });
    });
    socket.on('close', () => {
      const parsed = parseResponse(Buffer.concat(chunks));
      finish(parsed ?? { error: chunks.length ? 'garbled' : 'closed' });
    });
    socket.write(bytes, () => {});
  });
}
