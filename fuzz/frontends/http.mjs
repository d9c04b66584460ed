/*
 * Streamable HTTP: POST bodies (generated and mutated JSON-RPC, batches, huge, deep, compressed)
 * and headers (Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version, Origin, Host,
 * Content-Encoding, Content-Length lies), GET/DELETE/other methods, and raw heads. Requests go
 * to a pool of live sessions on three endpoints, reused for the whole batch.
 *
 * Exemptions from "a response, never a reset" (each marked on the input):
 *   - `malformed`: a raw head Node's HTTP parser refuses (no version, a bad header line, a NUL,
 *     CL with TE, …): Node's own bare 400 or a close is the right answer.
 *   - `lengthLie: 'long'`: a Content-Length larger than the bytes sent: the server waiting for the
 *     rest is right; the harness closes after its deadline and counts it `closed`.
 *   - `lengthLie: 'short'`: the bytes after Content-Length are a malformed second request, which
 *     Node answers with a bare 400 and a close that may cut the first response off.
 *   - `chunked: 'no-end'`: a chunked body that never ends: waiting is right, as for 'long'.
 */
import { Agent } from 'node:http';
import { gzipSync, deflateSync } from 'node:zlib';
import { Rng } from '../lib/prng.mjs';
import {
  expectedReplies,
  generateBatch,
  generateInitialize,
  generateMessage,
  idKey,
  materialize,
} from '../lib/generate.mjs';
import { parseResponse, send, sendRaw } from '../lib/http-client.mjs';
import { internalsIn, judgeMessage } from '../lib/verdict.mjs';
import { rawElements, rawMembers } from '../lib/json-raw.mjs';
import { INITIALIZE } from '../lib/checks.mjs';

const ENDPOINTS = [
  [60, '/servers/echo/mcp'],
  [25, '/mcp'],
  [15, '/servers/everything/mcp'],
];
const MCP_PATH = /^\/(?:mcp|servers\/[^/]+\/mcp|messages|sse)(?:\?|$)/;
const ACCEPT = 'application/json, text/event-stream';

const OTHER_PATHS = [
  '/health',
  '/healthz',
  '/ready',
  '/stats',
  '/api/v1/sessions',
  '/.well-known/oauth-protected-resource',
  '/.well-known/oauth-protected-resource/mcp',
  '/.well-known/oauth-protected-resource/../../etc',
  '/.well-known/security.txt',
  '/servers/nope/mcp',
  '/servers/echo/mcp',
  '/nonexistent',
  '/mcp?x=%zz',
  '//mcp',
  '/%2e%2e/mcp',
  '/servers/%00/mcp',
  '/mcp/',
  '/MCP',
  `/${'a'.repeat(5000)}`,
];

const HEADER_FUZZ = {
  'content-type': [
    'text/plain',
    'application/json; charset=utf-16',
    'application/jsonx',
    'multipart/form-data; boundary=x',
    'application/json, text/html',
    '',
    'APPLICATION/JSON',
    'application/x-www-form-urlencoded',
    'application/json;;;',
  ],
  accept: [
    '*/*',
    'text/event-stream',
    'application/json',
    'text/html',
    '',
    'application/*',
    'text/event-stream;q=0, application/json;q=0',
  ],
  'mcp-session-id': [
    '$NONE',
    '00000000-0000-0000-0000-000000000000',
    '',
    ' $S',
    '$S,$S',
    'x'.repeat(5000),
    '$OTHER',
    '../../etc/passwd',
    '$S ',
  ],
  'mcp-protocol-version': [
    '2024-11-05',
    '2025-03-26',
    '2099-01-01',
    'garbage',
    '',
    '2025-11-25, 2025-06-18',
  ],
  origin: [
    'null',
    'http://evil.example',
    'http://allowed.example',
    '$SELF',
    'file://',
    'http://127.0.0.1',
    'http://localhost:1',
  ],
  host: [
    'evil.example',
    'localhost:$PORT',
    '127.0.0.1:$PORT',
    '[::1]:$PORT',
    '127.0.0.1.evil.example',
    'localhost',
  ],
  'content-encoding': ['gzip', 'deflate', 'br', 'identity', 'gzip, gzip', 'x-unknown'],
  'last-event-id': ['0', 'x_99', '', 'nope_1'],
  authorization: ['Bearer x', 'Basic Og==', 'Bearer ' + 'a'.repeat(3000)],
  cookie: ['a=b', 'session=$S'],
};

const FOREIGN_ORIGIN = (origin, port) =>
  origin !== undefined &&
  origin !== 'http://allowed.example' &&
  origin !== `http://127.0.0.1:${port}` &&
  origin !== `http://localhost:${port}`;
const FOREIGN_HOST = (host) =>
  host !== undefined && !/^(?:localhost|127\.0\.0\.1|\[::1\])(?::\d+)?$/.test(host);

/** The input for `index`: a description that `run` can send again (replay). */
export function buildInput(seed, index, { maxBytes }) {
  const rng = new Rng(`${seed}:http:${index}`);
  let n = 0;
  const ctx = { nextId: () => index * 16 + n++, maxBytes, huge: 0.15 };
  const path = rng.weighted(ENDPOINTS);
  const headers = { 'content-type': 'application/json', accept: ACCEPT, 'mcp-session-id': '$S' };
  const kind = rng.weighted([
    [62, 'post'],
    [8, 'batch'],
    [14, 'headers'],
    [1.5, 'initialize'],
    [3, 'get'],
    [1, 'delete'],
    [2, 'method'],
    [6, 'raw'],
  ]);
  const input = { frontend: 'http', kind, method: 'POST', path, headers, maxBytes };
  const setBody = (item) => {
    input.text = item.text;
    if (item.recipe) input.recipe = item.recipe;
    input.tags = item.tags;
  };
  switch (kind) {
    case 'post':
      setBody(generateMessage(rng, ctx));
      break;
    case 'batch':
      setBody(generateBatch(rng, ctx));
      break;
    case 'headers': {
      setBody(generateMessage(rng, { ...ctx, huge: 0 }));
      for (let k = rng.range(1, 3); k > 0; k--) {
        const name = rng.pick(Object.keys(HEADER_FUZZ));
        const value = rng.pick(HEADER_FUZZ[name]);
        if (value === '$NONE') delete headers[name];
        else headers[name] = value;
        if (name === 'content-encoding' && rng.chance(0.6))
          input.compress = value.startsWith('deflate') ? 'deflate' : 'gzip';
      }
      if (rng.chance(0.2)) delete headers[rng.pick(['content-type', 'accept', 'mcp-session-id'])];
      break;
    }
    case 'initialize':
      delete headers['mcp-session-id'];
      setBody(generateInitialize(rng, ctx));
      input.path = rng.chance(0.8) ? '/servers/echo/mcp' : '/mcp';
      break;
    case 'get':
      input.method = 'GET';
      input.path = rng.chance(0.4) ? path : rng.pick(OTHER_PATHS);
      input.headers = rng.chance(0.7)
        ? { accept: 'text/event-stream', 'mcp-session-id': '$S' }
        : { accept: rng.pick(['*/*', 'application/json', 'text/html']) };
      if (rng.chance(0.2)) input.headers['last-event-id'] = rng.pick(HEADER_FUZZ['last-event-id']);
      if (rng.chance(0.15)) input.headers.origin = rng.pick(HEADER_FUZZ.origin);
      break;
    case 'delete':
      input.method = 'DELETE';
      input.headers = {
        'mcp-session-id': rng.pick([
          '00000000-0000-0000-0000-000000000000',
          '',
          'nope',
          '$NONE',
          '$NONE',
          '$FRESH',
        ]),
      };
      if (input.headers['mcp-session-id'] === '$NONE') delete input.headers['mcp-session-id'];
      break;
    case 'method':
      input.method = rng.pick([
        'PUT',
        'PATCH',
        'OPTIONS',
        'HEAD',
        'FOO',
        'PROPFIND',
        'TRACE',
        'CONNECT',
        'M-SEARCH',
        'GETS',
        'post',
      ]);
      if (input.method === 'OPTIONS')
        Object.assign(headers, {
          origin: rng.pick(['http://allowed.example', 'http://evil.example', 'null']),
          'access-control-request-method': 'POST',
        });
      setBody({ text: rng.chance(0.5) ? JSON.stringify(INITIALIZE) : '', tags: ['method'] });
      input.raw = true; // node:http refuses to send some of these methods
      break;
    default: {
      const raw = rawCase(rng, ctx);
      Object.assign(input, raw);
    }
  }
  return input;
}

/** A raw request: `head` ($PORT, $S, $LEN replaced at send time), `text` the body. */
function rawCase(rng, ctx) {
  const body = generateMessage(rng, { ...ctx, huge: 0 }).text;
  const std =
    'Host: 127.0.0.1:$PORT\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMcp-Session-Id: $S\r\n';
  const which = rng.int(12);
  const cases = [
    {
      rawHead: `POST $PATH HTTP/1.1\r\n${std}Content-Length: ${Buffer.byteLength(body) + rng.range(1, 1000)}\r\n\r\n`,
      lengthLie: 'long',
    },
    {
      rawHead: `POST $PATH HTTP/1.1\r\n${std}Content-Length: ${Math.max(0, Buffer.byteLength(body) - rng.range(1, 20))}\r\n\r\n`,
      lengthLie: 'short',
    },
    { rawHead: `POST $PATH\r\n${std}\r\n`, malformed: true },
    {
      rawHead: `POST $PATH HTTP/1.1\r\n${std}Bad Header Line\r\nContent-Length: $LEN\r\n\r\n`,
      malformed: true,
    },
    {
      rawHead: `POST $PATH HTTP/1.1\r\n${std}X-Nul: a\u0000b\r\nContent-Length: $LEN\r\n\r\n`,
      malformed: true,
    },
    {
      rawHead: `POST $PATH HTTP/1.1\r\n${std}Content-Length: $LEN\r\nContent-Length: 3\r\n\r\n`,
      malformed: true,
    },
    {
      rawHead: `POST $PATH HTTP/1.1\r\n${std}Content-Length: $LEN\r\nTransfer-Encoding: chunked\r\n\r\n`,
      malformed: true,
    },
    {
      rawHead: `POST $PATH HTTP/1.1\r\n${std}Transfer-Encoding: chunked\r\n\r\n`,
      chunked: rng.pick(['ok', 'bad-size', 'no-end']),
      malformed: true,
    },
    { rawHead: `POST $PATH HTTP/1.0\r\n${std}Content-Length: $LEN\r\n\r\n` },
    {
      rawHead: `POST $PATH HTTP/1.1\r\n${std}X-Big: ${'b'.repeat(rng.pick([100, 20000, 70000]))}\r\nContent-Length: $LEN\r\n\r\n`,
      malformed: true,
    },
    { rawHead: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', malformed: true, noBody: true },
    {
      rawHead: `POST $PATH HTTP/1.1\n${std.replace(/\r\n/g, '\n')}Content-Length: $LEN\n\n`,
      malformed: true,
    },
  ];
  return { ...cases[which], text: body, raw: true, tags: ['raw'] };
}

/** Live sessions per endpoint, opened by `open` and closed by `close`. */
class Sessions {
  constructor(base) {
    this.base = base;
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

  async initialize(path) {
    const headers = { 'content-type': 'application/json', accept: ACCEPT };
    const res = await fetch(this.base + path, {
      method: 'POST',
      headers,
      body: JSON.stringify(INITIALIZE),
      signal: AbortSignal.timeout(20_000),
    });
    const id = res.headers.get('mcp-session-id');
    await res.text();
    if (!id) throw new Error(`could not open a session on ${path}: ${res.status}`);
    await fetch(this.base + path, {
      method: 'POST',
      headers: { ...headers, 'mcp-session-id': id },
      body: '{"jsonrpc":"2.0","method":"notifications/initialized"}',
    }).then((r) => r.text());
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
        fetch(this.base + path, { method: 'DELETE', headers: { 'mcp-session-id': id } }).then(
          (r) => r.text(),
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
async function deliver(input, env) {
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
function messagesIn(ctype, bodyText) {
  if (ctype.includes('text/event-stream')) {
    const out = [];
    for (const event of bodyText.split(/\r?\n\r?\n/)) {
      const data = event
        .split(/\r?\n/)
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).replace(/^ /, ''))
        .join('\n');
      if (data) out.push(data);
    }
    return out.flatMap((raw) => {
      const t = raw.trim();
      return t.startsWith('[') ? (rawElements(t) ?? [t]) : [t];
    });
  }
  const t = bodyText.trim();
  if (t.startsWith('[')) return rawElements(t) ?? [t];
  return [t];
}

/** Judges one outcome: the reply class and the violations. */
export function judge(input, outcome, port) {
  const { res, text } = outcome;
  const v = [];
  const exempt = input.malformed || input.lengthLie !== undefined || input.chunked === 'no-end';
  if (res.error) {
    if (res.error === 'refused-by-client') return { cls: 'closed', violations: [] };
    if (exempt) return { cls: 'closed', violations: [] };
    if (res.error === 'timeout')
      return {
        cls: 'timeout',
        violations: [{ kind: 'hang', detail: 'no response within the deadline' }],
      };
    return { cls: 'closed', violations: [{ kind: 'reset', detail: res.detail ?? res.error }] };
  }
  const status = res.status;
  const ctype = String(res.headers['content-type'] ?? '');
  const bodyText = res.body.toString('utf8');
  const leak = internalsIn(bodyText, text) ?? internalsIn(JSON.stringify(res.headers), text);
  if (leak) v.push({ kind: 'stack-trace', detail: leak });
  if (status === 0 || res.garbled)
    return {
      cls: 'closed',
      violations: exempt
        ? []
        : [...v, { kind: 'bad-reply', detail: 'a response that is not HTTP' }],
    };
  const mcp = MCP_PATH.test(input.path);
  const origin = (outcome.headers ?? input.headers).origin;
  const host = (outcome.headers ?? {}).host;
  if (status < 400 && mcp && input.method !== 'OPTIONS' && FOREIGN_ORIGIN(origin, port))
    v.push({ kind: 'origin-accepted', detail: `Origin ${origin} got ${status}` });
  if (status < 400 && mcp && FOREIGN_HOST(host))
    v.push({ kind: 'origin-accepted', detail: `Host ${host} got ${status}` });
  const encoding = input.headers['content-encoding'];
  if (
    encoding &&
    /gzip|deflate|br|compress|unknown/.test(encoding) &&
    mcp &&
    input.method === 'POST' &&
    status !== 415
  ) {
    const decoded = input.compress && status < 400;
    if (!decoded && (status < 300 || (input.compress && status === 400)))
      v.push({
        kind: 'content-encoding-ignored',
        detail: `Content-Encoding ${encoding} (${input.compress ? 'compressed' : 'not compressed'}) got ${status}`,
      });
  }
  if (status >= 400) {
    let json = false;
    if (/json/.test(ctype)) {
      try {
        JSON.parse(bodyText);
        json = true;
      } catch {
        // not JSON
      }
    }
    const bareNodeReply = exempt && status === 400 && bodyText === '';
    if (!json && input.method !== 'HEAD' && !bareNodeReply)
      v.push({
        kind: 'non-json-error',
        detail: `${status} ${ctype || '(no content-type)'} ${bodyText.slice(0, 80)}`,
      });
    if (status === 500) v.push({ kind: 'internal-error', detail: bodyText.slice(0, 200) });
    if (status === 504 || bodyText.includes('"GATEWAY_TIMEOUT"'))
      v.push({ kind: 'slow-error', detail: bodyText.slice(0, 200) });
    if (status === 413 && exempt) return { cls: 'http-4xx', violations: v };
    return { cls: status >= 500 ? 'http-5xx' : 'http-4xx', violations: v };
  }
  if (!mcp || input.method !== 'POST' || res.streaming) return { cls: 'ok', violations: v };
  // A POST to an MCP endpoint answered 2xx: its requests must be answered, as written.
  const expected = expectedReplies(text);
  if (status === 202) {
    if (expected.length > 0)
      v.push({ kind: 'missing-reply', detail: `202 for ${expected.length} request(s)` });
    return { cls: 'ok', violations: v };
  }
  if (!/json|event-stream/.test(ctype))
    return { cls: 'ok', violations: [...v, { kind: 'bad-reply', detail: `${status} ${ctype}` }] };
  let cls = 'ok';
  const seen = new Map();
  let nullErrors = 0;
  for (const raw of messagesIn(ctype, bodyText)) {
    let message;
    try {
      message = JSON.parse(raw);
    } catch {
      v.push({ kind: 'bad-reply', detail: raw.slice(0, 120) });
      continue;
    }
    const j = judgeMessage(message, raw, text);
    v.push(...j.violations);
    if (j.cls !== 'ok') cls = 'rpc-error';
    if (message?.id === null && message.error) nullErrors++;
    else if (message && (typeof message.id === 'string' || typeof message.id === 'number'))
      seen.set(idKey(message.id), raw);
  }
  for (const e of expected) {
    const raw = seen.get(e.key);
    if (raw === undefined) {
      if (nullErrors-- > 0) continue;
      v.push({ kind: 'missing-reply', detail: `no reply for id ${e.rawId}` });
    } else if (typeof e.id === 'number' && rawMembers(raw)?.get('id') !== e.rawId) {
      v.push({
        kind: 'id-changed',
        rawId: e.rawId,
        detail: `id ${e.rawId} came back as ${rawMembers(raw)?.get('id')}`,
      });
    }
  }
  return { cls, violations: v };
}

/** Runs inputs [from, to) against the gateway; one batch. */
export async function runBatch({ gw, seed, from, to, tally, options, inputs }) {
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });
  const sessions = new Sessions(gw.base);
  let unansweredInitializes = 0;
  try {
    await sessions.open(['/servers/echo/mcp', '/mcp', '/servers/everything/mcp'], 2);
    const env = { port: gw.port, agent, sessions, deadlineMs: options.deadlineMs };
    let next = from;
    const worker = async () => {
      for (;;) {
        const index = next++;
        if (index >= to) return;
        const input = inputs ? inputs[index - from] : buildInput(seed, index, options);
        const t0 = Date.now();
        const outcome = await deliver(input, { ...env, index });
        const took = Date.now() - t0;
        const created = outcome.res.headers?.['mcp-session-id'];
        if (input.kind === 'initialize') {
          if (created) sessions.created.add(`${input.path} ${created}`);
          if (outcome.res.error || (outcome.res.status ?? 500) >= 300) unansweredInitializes++;
        }
        const { cls, violations } = judge(input, outcome, gw.port);
        if (process.env.FUZZ_TRACE)
          process.stderr.write(
            `#${index} ${took}ms ${input.kind}:${input.tags ?? ''} ${input.method} ${input.path} → ${outcome.res.status ?? outcome.res.error} ${String(outcome.res.body ?? '').slice(0, 160)}\n`,
          );
        tally.record(index, input, cls, violations);
        // An input that ended a pool session (DELETE, a session-ending error) gets it replaced.
        if (
          outcome.res.status === 404 &&
          outcome.headers?.['mcp-session-id'] === outcome.session &&
          outcome.res.body?.includes?.('GATEWAY_SESSION_NOT_FOUND')
        )
          await sessions.replace(input.path, outcome.session);
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, worker));
  } finally {
    await sessions.close();
    agent.destroy();
  }
  return { unansweredInitializes };
}

export { parseResponse };
