/*
 * Sending a Streamable HTTP input: the pool of live sessions it goes to (opened per batch, the
 * ones an input ended replaced), the placeholders of its headers and raw head filled in, its body
 * compressed when it says so, then node:http with a keep-alive agent, or a raw socket for what
 * node:http will not write.
 */
import { gzipSync, deflateSync } from 'node:zlib';
import { materialize } from '../../lib/generate.mjs';
import { send, sendRaw } from '../../lib/http-client.mjs';
import { INITIALIZE } from '../../lib/checks.mjs';
import { ACCEPT } from './inputs.mjs';

/**
 * Live sessions per endpoint, opened by `open` and closed by `close`, over the batch's own
 * keep-alive `agent` (destroyed with the batch: a client's idle connections would otherwise stay
 * open on the gateway past the fd check; `fetch` keeps its own for as long as the server's
 * keep-alive timeout says).
 */
export class Sessions {
  constructor(port, agent) {
    this.port = port;
    this.agent = agent;
    this.live = new Map(); // path → [ids]
    this.created = new Set();
  }

  async open(paths, perPath) {
    for (const path of paths) {
      const ids = [];
      for (let i = 0; i < perPath; i++) ids.push(await this.initialize(path));
      this.live.set(path, ids.filter(Boolean));
    }
  }

  request(method, path, headers, body) {
    return send(this.agent, {
      port: this.port,
      method,
      path,
      headers:
        body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) },
      body,
      deadlineMs: 20_000,
    });
  }

  async initialize(path) {
    const headers = { 'content-type': 'application/json', accept: ACCEPT };
    const res = await this.request('POST', path, headers, JSON.stringify(INITIALIZE));
    const id = res.headers?.['mcp-session-id'];
    if (!id) throw new Error(`could not open a session on ${path}: ${res.status ?? res.error}`);
    await this.request(
      'POST',
      path,
      { ...headers, 'mcp-session-id': id },
      '{"jsonrpc":"2.0","method":"notifications/initialized"}',
    );
    return id;
  }

  pick(path, index) {
    const ids = this.live.get(path) ?? this.live.get('/servers/echo/mcp') ?? [];
    return ids[index % ids.length] ?? 'none';
  }

  other(path, index) {
    const paths = [...this.live.keys()].filter((p) => p !== path);
    return this.pick(paths[index % paths.length] ?? path, index);
  }

  /** Re-opens a pool session that an input ended (DELETE, or a session-killing fault). */
  async replace(path, id) {
    const ids = this.live.get(path);
    const at = ids?.indexOf(id) ?? -1;
    if (at < 0) return;
    ids[at] = 'replacing';
    try {
      ids[at] = await this.initialize(path);
    } catch {
      ids.splice(at, 1);
    }
  }

  async close() {
    const all = [
      ...[...this.live.entries()].flatMap(([p, ids]) => ids.map((id) => [p, id])),
      ...[...this.created].map((e) => e.split(' ')),
    ];
    await Promise.all(
      all.map(([path, id]) =>
        this.request('DELETE', path, { 'mcp-session-id': id }).then(
          () => undefined,
          () => undefined,
        ),
      ),
    );
    this.live.clear();
    this.created.clear();
  }
}

function substitute(value, { session, other, port, gw }) {
  return String(value)
    .replace(/\$SELF/g, `http://127.0.0.1:${port}`)
    .replace(/\$PORT/g, String(port))
    .replace(/\$OTHER/g, other)
    .replace(/\$S/g, session)
    .replace(/\$FRESH/g, gw.fresh ?? 'none');
}

function encodeBody(input, text) {
  const buf = Buffer.from(text);
  if (input.compress === 'gzip') return gzipSync(buf);
  if (input.compress === 'deflate') return deflateSync(buf);
  return buf;
}

/** Sends `input` and returns its outcome. */
export async function deliver(input, env) {
  const { port, agent, sessions, deadlineMs } = env;
  const session = sessions.pick(input.path, env.index);
  const subs = { session, other: sessions.other(input.path, env.index), port, gw: env };
  const text = input.text !== undefined || input.recipe ? materialize(input) : '';
  const body = encodeBody(input, text);
  input.bodyBytes = body.length;
  if (input.raw) {
    let bytes;
    if (input.rawHead) {
      const head = substitute(
        input.rawHead.replace('$PATH', input.path).replace('$LEN', String(body.length)),
        subs,
      );
      if (input.noBody) bytes = Buffer.from(head, 'latin1');
      else if (input.chunked === 'ok')
        bytes = Buffer.concat([
          Buffer.from(head),
          Buffer.from(`${body.length.toString(16)}\r\n`),
          body,
          Buffer.from('\r\n0\r\n\r\n'),
        ]);
      else if (input.chunked === 'bad-size')
        bytes = Buffer.concat([
          Buffer.from(head),
          Buffer.from('zz\r\n'),
          body,
          Buffer.from('\r\n0\r\n\r\n'),
        ]);
      else if (input.chunked === 'no-end')
        bytes = Buffer.concat([
          Buffer.from(head),
          Buffer.from(`${body.length.toString(16)}\r\n`),
          body,
        ]);
      else bytes = Buffer.concat([Buffer.from(head, 'utf8'), body]);
    } else {
      const lines = [`${input.method} ${input.path} HTTP/1.1`, `Host: 127.0.0.1:${port}`];
      for (const [k, v] of Object.entries(input.headers))
        lines.push(`${k}: ${substitute(v, subs)}`);
      lines.push(`Content-Length: ${body.length}`, 'Connection: close');
      bytes = Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), body]);
    }
    return {
      res: await sendRaw({
        port,
        bytes,
        deadlineMs: input.lengthLie === 'long' || input.chunked === 'no-end' ? 600 : deadlineMs,
      }),
      text,
      session,
    };
  }
  const headers = {};
  for (const [k, v] of Object.entries(input.headers)) headers[k] = substitute(v, subs);
  headers['content-length'] = String(body.length);
  if (input.method === 'GET' || input.method === 'DELETE') delete headers['content-length'];
  const res = await send(agent, {
    port,
    method: input.method,
    path: input.path,
    headers,
    body: input.method === 'GET' || input.method === 'DELETE' ? undefined : body,
    deadlineMs,
    stream: 'head',
  });
  return { res, text, session, headers };
}

/** The JSON-RPC messages of a response body (JSON or SSE), each with its raw text. */
