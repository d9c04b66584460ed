/*
 * What a Streamable HTTP response must be: a JSON error for a 4xx/5xx, the answer to every request
 * of a 2xx POST with its id as written, a 403 for a foreign Origin or Host, a 415 (or a decoded
 * body) for a Content-Encoding; no stack trace anywhere. Also used for the POSTs of legacy SSE.
 */
import { expectedReplies, idKey } from '../../lib/generate.mjs';
import { internalsIn, judgeMessage } from '../../lib/verdict.mjs';
import { rawElements, rawMembers } from '../../lib/json-raw.mjs';

const MCP_PATH = /^\/(?:mcp|servers\/[^/]+\/mcp|messages|sse)(?:\?|$)/;
const FOREIGN_ORIGIN = (origin, port) =>
  origin !== undefined &&
  origin !== 'http://allowed.example' &&
  origin !== `http://127.0.0.1:${port}` &&
  origin !== `http://localhost:${port}`;
const FOREIGN_HOST = (host) =>
  host !== undefined && !/^(?:localhost|127\.0\.0\.1|\[::1\])(?::\d+)?$/.test(host);

/** The input for `index`: a description that `run` can send again (replay). */
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
