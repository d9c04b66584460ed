/*
 * The known-defect list (fuzz/known-defects.json) applied to what the harness saw: a violation
 * that one entry explains is counted under that entry instead of failing the run. Each matcher
 * names the violation kinds it may explain and the inputs it applies to, as narrowly as the
 * defect is described, so an entry never hides a different fault. An entry deleted from the
 * JSON file stops matching, and its inputs count as violations again.
 */
import { readFileSync } from 'node:fs';
import { nestingDepth, rawMembers } from './json-raw.mjs';

const LIST = JSON.parse(readFileSync(new URL('../known-defects.json', import.meta.url), 'utf8'));

const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The JSON-RPC objects in an input's text (one, or a batch's elements). */
function messagesOf(input) {
  // `decoded`: the text as the gateway read it, when bytes that are not UTF-8 were spliced in.
  const text = input.decoded ?? input.text ?? '';
  if (input.messages) return input.messages;
  const list = [];
  // A line-based input may hold several lines, each a message or a batch.
  for (const part of input.frontend === 'http' ? [text] : text.split('\n')) {
    let value;
    try {
      value = JSON.parse(part.replace(/^\ufeff/, ''));
    } catch {
      value = undefined;
    }
    list.push(...(Array.isArray(value) ? value.flat(2) : [value]));
  }
  const payloads = list.map((m) => (isObject(m) && isObject(m.mcp_payload) ? m.mcp_payload : m));
  Object.defineProperty(input, 'messages', { value: payloads.filter(isObject), enumerable: false });
  return input.messages;
}

const header = (input, name) => {
  const h = input.headers ?? {};
  for (const k of Object.keys(h)) if (k.toLowerCase() === name) return h[k];
  return undefined;
};

const FORWARDED_BUT_DROPPED = ['slow-error', 'hang', 'missing-reply'];

const MATCHERS = {
  'origin-null': {
    kinds: ['origin-accepted'],
    match: (input) => header(input, 'origin') === 'null',
  },
  'array-params': {
    kinds: FORWARDED_BUT_DROPPED,
    match: (input) => messagesOf(input).some((m) => Array.isArray(m.params)),
  },
  'request-with-result': {
    kinds: FORWARDED_BUT_DROPPED,
    match: (input) =>
      messagesOf(input).some(
        (m) => typeof m.method === 'string' && ('result' in m || 'error' in m),
      ),
  },
  'meta-not-object': {
    kinds: FORWARDED_BUT_DROPPED,
    match: (input) =>
      messagesOf(input).some(
        (m) => isObject(m.params) && '_meta' in m.params && !isObject(m.params._meta),
      ),
  },
  'huge-progress-token': {
    kinds: FORWARDED_BUT_DROPPED,
    match: (input) =>
      messagesOf(input).some((m) => {
        const t =
          isObject(m.params) && isObject(m.params._meta) ? m.params._meta.progressToken : undefined;
        return t !== undefined && typeof t !== 'string' && !Number.isSafeInteger(t);
      }),
  },
  'extra-member': {
    kinds: FORWARDED_BUT_DROPPED,
    match: (input) =>
      messagesOf(input).some((m) =>
        Object.keys(m).some(
          (k) => !['jsonrpc', 'id', 'method', 'params', 'result', 'error'].includes(k),
        ),
      ),
  },
  'proto-method-deadline': {
    kinds: ['slow-error'],
    match: (input) =>
      messagesOf(input).some((m) => typeof m.method === 'string' && m.method in Object.prototype),
  },
  'deep-nesting': {
    kinds: ['internal-error'],
    match: (input) => (input.recipe?.count ?? nestingDepth(input.text ?? '')) >= 1000,
  },
  'big-int-id': {
    kinds: ['id-changed'],
    match: (_input, v) =>
      typeof v.rawId === 'string' && /^-?\d/.test(v.rawId) && String(Number(v.rawId)) !== v.rawId,
  },
  'oversize-body-on-session': {
    kinds: ['reset'],
    match: (input) => (input.bodyBytes ?? 0) > (input.maxBytes ?? Infinity),
  },
  'content-encoding-ignored': {
    kinds: ['content-encoding-ignored'],
    match: (input) => !/^\s*(?:identity)?\s*$/i.test(header(input, 'content-encoding') ?? ''),
  },
  'unknown-http-method': {
    kinds: ['non-json-error'],
    match: (input) =>
      typeof input.method === 'string' && !['GET', 'POST', 'DELETE', 'HEAD'].includes(input.method),
  },
  'connect-method-reset': {
    kinds: ['reset'],
    match: (input) => input.method === 'CONNECT',
  },
  'log-per-bad-line': {
    kinds: ['log-flood'],
    match: (input) => input.frontend === 'unix' || input.frontend === 'stdio',
  },
  'reinitialize-leak': {
    kinds: ['leak-processes', 'leak-fds'],
    // At most two processes (and their pipes) per repeated initialize the batch sent.
    match: (input, v) =>
      (input.reinitializes ?? 0) * (v.kind === 'leak-fds' ? 16 : 2) >= (v.excess ?? Infinity),
  },
  'abandoned-handshake': {
    kinds: ['leak-processes', 'leak-fds'],
    // A batch that sent initializes which got no successful answer; the leak is at most those.
    match: (input, v) =>
      (input.unansweredInitializes ?? 0) * (v.kind === 'leak-fds' ? 16 : 2) >=
      (v.excess ?? Infinity),
  },
};

/** The entries of the list in force, with their matchers. */
export const knownDefects = LIST.defects.map((d) => ({
  ...d,
  ...(MATCHERS[d.id] ?? { kinds: [] }),
}));

export function isKnown(id) {
  return LIST.defects.some((d) => d.id === id);
}

/** The known defect that explains violation `v` of `input`, or undefined. */
export function explain(input, v) {
  // A late reply is judged by the input it answers.
  const owner = v.late ? { ...v.late, frontend: input.frontend } : input;
  for (const d of knownDefects) if (d.kinds.includes(v.kind) && d.match?.(owner, v)) return d.id;
  return undefined;
}

/** Raw id of a JSON-RPC message's text (as written), or undefined. */
export const rawIdOf = (text) => rawMembers(text)?.get('id');
