import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Agent, IncomingMessage, request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Principal } from '../core/context.js';

/*
 * Forwarding a client's request from the replica it reached to the replica that owns its
 * session: point to point over the owner's internal listener, never through a broadcast. The
 * forwarder has already admitted and authenticated the request; what it forwards is the whole
 * request (method, URL, the headers it signs, the body) and what it learnt (the caller, the
 * client's address), signed together with the cluster secret, with a time and a nonce so that a
 * captured forward cannot be replayed. The owner serves only the headers that were signed.
 */

/** Forwarded requests, as the internal listener made them: never forwarded again. */
export const FORWARDED = new WeakSet<IncomingMessage>();

export const SIGNATURE = 'x-mcp-bridge-signature';
export const ENVELOPE = 'x-mcp-bridge-forward';
/** On a forward's answer: the owner did not serve it (no longer its session); route again. */
export const NOT_OWNER = 'x-mcp-bridge-not-owner';
/** Forwarded requests older than this (or from this far ahead) are refused. */
const MAX_SKEW_MS = 30_000;

/** Headers that belong to one connection, not to the request. */
const HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
  'te',
  'trailer',
  'content-length',
  SIGNATURE,
]);

export interface Envelope {
  /** The endpoint's base (`''` or `/servers/<name>`). */
  base: string;
  principal: Principal | undefined;
  client: string | undefined;
  from: string;
  ts: number;
  nonce: string;
  /** Signed header names, in order. */
  signed: string[];
}

function canonical(
  method: string,
  url: string,
  headers: IncomingHttpHeaders,
  env: string,
  signed: string[],
  body: Buffer,
): string {
  const lines = [method, url, env];
  for (const name of signed) {
    const value = headers[name];
    lines.push(`${name}:${Array.isArray(value) ? value.join(',') : (value ?? '')}`);
  }
  lines.push(createHash('sha256').update(body).digest('hex'));
  return lines.join('\n');
}

function mac(secret: string, text: string): string {
  return createHmac('sha256', secret).update(text).digest('base64url');
}

/** The headers of a forward of `req`: the client's (less hop-by-hop ones), the envelope, the signature. */
export function signForward(
  secret: string,
  req: IncomingMessage,
  body: Buffer,
  envelope: Omit<Envelope, 'ts' | 'nonce' | 'signed'>,
): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || HOP.has(name) || name === ENVELOPE) continue;
    headers[name] = value;
  }
  const signed = Object.keys(headers).sort();
  const env: Envelope = {
    ...envelope,
    ts: Date.now(),
    nonce: randomBytes(12).toString('base64url'),
    signed,
  };
  const encoded = Buffer.from(JSON.stringify(env)).toString('base64url');
  headers[ENVELOPE] = encoded;
  headers['content-length'] = String(body.length);
  headers[SIGNATURE] = mac(
    secret,
    canonical(req.method ?? 'GET', req.url ?? '/', headers, encoded, signed, body),
  );
  return headers;
}

/** Nonces seen within the skew window: a forward is served once. */
export class NonceCache {
  private readonly seen = new Map<string, number>();
  private sweepAt = 0;

  fresh(nonce: string, now: number): boolean {
    if (now > this.sweepAt) {
      for (const [n, at] of this.seen) if (now - at > 2 * MAX_SKEW_MS) this.seen.delete(n);
      this.sweepAt = now + MAX_SKEW_MS;
    }
    if (this.seen.has(nonce)) return false;
    this.seen.set(nonce, now);
    return true;
  }
}

/** The envelope of a forward whose signature holds; a string says why it is refused. */
export function verifyForward(
  secret: string,
  req: IncomingMessage,
  body: Buffer,
  nonces: NonceCache,
): Envelope | string {
  const signature = req.headers[SIGNATURE];
  const encoded = req.headers[ENVELOPE];
  if (typeof signature !== 'string' || typeof encoded !== 'string') return 'not a forward';
  let env: Envelope;
  try {
    env = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8')) as Envelope;
  } catch {
    return 'unreadable envelope';
  }
  if (!Array.isArray(env.signed) || typeof env.ts !== 'number' || typeof env.nonce !== 'string')
    return 'unreadable envelope';
  const expected = Buffer.from(
    mac(
      secret,
      canonical(req.method ?? 'GET', req.url ?? '/', req.headers, encoded, env.signed, body),
    ),
  );
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'bad signature';
  const now = Date.now();
  if (Math.abs(now - env.ts) > MAX_SKEW_MS) return 'stale forward';
  if (!nonces.fresh(env.nonce, now)) return 'replayed forward';
  return env;
}

/**
 * The request the owner serves: the forwarded method, URL, the signed headers only, and the
 * body, on the internal connection's socket.
 */
export function forwardedRequest(
  req: IncomingMessage,
  env: Envelope,
  body: Buffer,
): IncomingMessage {
  const copy = new IncomingMessage(req.socket);
  copy.method = req.method;
  copy.url = req.url;
  copy.httpVersion = req.httpVersion;
  copy.httpVersionMajor = req.httpVersionMajor;
  copy.httpVersionMinor = req.httpVersionMinor;
  const headers: IncomingHttpHeaders = {};
  for (const name of env.signed) headers[name] = req.headers[name] as string;
  if (body.length > 0) headers['content-length'] = String(body.length);
  copy.headers = headers;
  // Whole: so that ending it does not take the connection's socket down with it.
  copy.complete = true;
  if (body.length > 0) copy.push(body);
  copy.push(null);
  return copy;
}

export type ForwardOutcome =
  | { kind: 'served' }
  /** Nothing reached the owner (refused connection): safe to serve elsewhere. */
  | { kind: 'unreachable'; error: Error }
  /** The owner said it does not hold the session (any more): route again. */
  | { kind: 'not-owner' }
  /** The owner may have received it, then was lost: the request ends in a retryable error. */
  | { kind: 'lost'; error: Error };

export class Forwarder {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256, timeout: 30_000 });

  /**
   * Sends a forward to `addr` and streams the owner's answer into `res`. `abort` ends it early
   * (the owner's heartbeat expired); the caller answers for it then.
   */
  forward(
    addr: string,
    req: IncomingMessage,
    headers: Record<string, string | string[]>,
    body: Buffer,
    res: ServerResponse,
    extraHeaders: Record<string, string>,
    signal: AbortSignal,
  ): Promise<ForwardOutcome> {
    const at = addr.lastIndexOf(':');
    return new Promise<ForwardOutcome>((resolve) => {
      let settled = false;
      const done = (outcome: ForwardOutcome) => {
        if (settled) return;
        settled = true;
        resolve(outcome);
      };
      const upstream = httpRequest({
        host: addr.slice(0, at).replace(/^\[|\]$/g, ''),
        port: Number(addr.slice(at + 1)),
        method: req.method,
        path: req.url,
        headers,
        agent: this.agent,
        signal,
      });
      let sent = false;
      upstream.on('response', (answer) => {
        if (answer.headers[NOT_OWNER] !== undefined) {
          answer.resume();
          return done({ kind: 'not-owner' });
        }
        const out: Record<string, string | string[]> = { ...extraHeaders };
        for (const [name, value] of Object.entries(answer.headers)) {
          if (value !== undefined && !HOP.has(name)) out[name] = value;
        }
        if (answer.headers['content-length'] !== undefined)
          out['content-length'] = answer.headers['content-length'];
        res.writeHead(answer.statusCode ?? 502, out);
        res.flushHeaders();
        answer.on('data', (chunk: Buffer) => res.write(chunk));
        answer.on('end', () => {
          res.end();
          done({ kind: 'served' });
        });
        answer.on('error', () => {
          res.destroy();
          done({ kind: 'served' });
        });
        answer.on('aborted', () => res.destroy());
      });
      upstream.on('error', (error: NodeJS.ErrnoException) => {
        if (res.headersSent) {
          res.destroy();
          return done({ kind: 'served' });
        }
        if (!sent || error.code === 'ECONNREFUSED') return done({ kind: 'unreachable', error });
        done({ kind: 'lost', error });
      });
      upstream.on('socket', (socket) => {
        // A refused connection never sent anything; once connected, the request may have arrived.
        if (socket.connecting) socket.once('connect', () => (sent = true));
        else sent = true;
      });
      // The client left: so does the forward (an SSE stream, say).
      res.once('close', () => {
        if (!res.writableFinished) upstream.destroy();
      });
      upstream.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
