/*
 * What the harness sends: JSON-RPC text, built from recorded valid traffic (fuzz/corpus), mutated
 * field by field or byte by byte, or generated from scratch, plus the special classes that have
 * broken the gateway before (see known-defects.mjs). Everything comes from the seeded `Rng`, so a
 * seed and an index name one input.
 *
 * A generated message is `{ text, recipe?, tags }`: `recipe` stands in for a text too big to keep
 * in a report (`{ prefix, repeat, count, suffix }`), `tags` name the classes it was built from.
 */
import { readFileSync } from 'node:fs';
import { rawElements, rawMembers } from './json-raw.mjs';

const CORPUS = JSON.parse(
  readFileSync(new URL('../corpus/recorded.json', import.meta.url), 'utf8'),
);

/** Client messages recorded from real sessions (the official SDK client through the gateway). */
export const recorded = CORPUS.sessions.flatMap((s) => s.messages);

const ID = '\u0000ID\u0000';
const ID_TOKEN = JSON.stringify(ID);

/** Text of `message` with its id written as the raw token `rawId` (digits kept as they are). */
function withRawId(message, rawId) {
  return JSON.stringify({ ...message, id: ID }).replace(ID_TOKEN, rawId);
}

/*
 * Odd ids, each still unique per input (`n`), so that inputs in flight on one connection never
 * share one; the numeric ones also differ as doubles. The last few are not ids at all.
 */
const WEIRD_IDS = [
  (n) => `${n + 1}000000000000000000001`, // beyond 2^53: not a double
  (n) => String(9007199254740993n + BigInt(n) * 4n), // odd and above 2^53
  (n) => `-${n + 1}`,
  (n) => `${n}.5`,
  (n) => `${n}e0`,
  (n) => `${n}.0`,
  (n) => JSON.stringify(` ${n}`),
  (n) => JSON.stringify(`\u0000${n}`),
  (n) => JSON.stringify(`🙂${n}`),
  (n) => JSON.stringify(`${n}`.repeat(200)),
  () => 'null',
  () => 'true',
  () => '{}',
  () => '[]',
  () => '[1]',
  () => '1e400',
];

/** An id token: mostly a fresh number or string, sometimes one of the odd ones. */
function idToken(rng, ctx) {
  const n = ctx.nextId();
  if (!rng.chance(0.12)) return rng.chance(0.7) ? String(n) : JSON.stringify(`f-${n}`);
  return rng.pick(WEIRD_IDS)(n);
}

const METHODS = [
  'initialize',
  'ping',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/read',
  'resources/templates/list',
  'resources/subscribe',
  'prompts/list',
  'prompts/get',
  'logging/setLevel',
  'completion/complete',
  'notifications/initialized',
  'notifications/cancelled',
  'notifications/progress',
  'notifications/roots/list_changed',
  'rpc.discover',
  '',
  'tools/call\u0000',
  'TOOLS/LIST',
  'x'.repeat(300),
  '../../etc/passwd',
  '__proto__',
  'constructor',
];

const SCALARS = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  1e308,
  -1e-308,
  '',
  'x',
  '\u0000',
  '\ud800',
  '🙂'.repeat(20),
  '<script>alert(1)</script>',
  '${HOME}',
  '%s%n%x',
  '    at Object.<anonymous> (/etc/x.js:1:1)',
  '__proto__',
];

/** A random JSON value, at most `depth` deep. */
export function randomValue(rng, depth = 3) {
  const r = rng.int(depth > 0 ? 10 : 6);
  if (r < 4) return rng.pick(SCALARS);
  if (r === 4) return rng.int(1 << 30) - (1 << 29);
  if (r === 5) return 'abcdefghij'.repeat(rng.range(0, 50)).slice(0, rng.int(400));
  if (r < 8) return Array.from({ length: rng.int(4) }, () => randomValue(rng, depth - 1));
  const out = {};
  for (let i = rng.int(4); i > 0; i--) {
    const key = rng.pick([
      'a',
      'name',
      'arguments',
      '_meta',
      'id',
      'method',
      '__proto__',
      'text',
      'x',
    ]);
    // An own "__proto__" member (as JSON.parse makes one), not a prototype.
    Object.defineProperty(out, key, {
      value: randomValue(rng, depth - 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/** Every [parent, key] in `value`, the root first, for field mutations. */
function paths(value, parent = null, key = null, out = []) {
  out.push([parent, key]);
  if (out.length > 64) return out;
  if (Array.isArray(value)) value.forEach((v, i) => paths(v, value, i, out));
  else if (value !== null && typeof value === 'object')
    for (const k of Object.keys(value)) paths(value[k], value, k, out);
  return out;
}

function mutateFields(rng, message) {
  const m = structuredClone(message);
  for (let n = rng.range(1, 3); n > 0; n--) {
    const all = paths(m).slice(1);
    if (all.length === 0) break;
    const [parent, key] = rng.pick(all);
    switch (rng.int(7)) {
      case 0:
        if (Array.isArray(parent)) parent.splice(key, 1);
        else delete parent[key];
        break;
      case 1:
      case 2:
        parent[key] = randomValue(rng, 2);
        break;
      case 3:
        parent[key] = [parent[key]];
        break;
      case 4:
        if (!Array.isArray(parent) && rng.chance(0.3))
          parent[rng.pick(['result', 'error', 'extra', 'ID', 'Method'])] = {};
        break;
      case 5:
        if (typeof parent[key] === 'string')
          parent[key] = parent[key] + rng.pick(['\u0000', '/', '🙂', ' ']);
        else parent[key] = JSON.stringify(parent[key]) ?? 'undefined';
        break;
      default:
        if (!Array.isArray(parent))
          parent[rng.pick(['method', 'jsonrpc', 'params', 'name'])] = rng.pick(METHODS);
    }
  }
  return m;
}

const NOISE = [
  '\u0000',
  '\n',
  '\r',
  '"',
  '\\',
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  '\ufeff',
  '\ud800',
  'é',
  ' ',
  '0',
  '-',
  'e',
];

function mutateBytes(rng, text) {
  let t = text;
  for (let n = rng.range(1, 4); n > 0; n--) {
    const at = rng.int(t.length + 1);
    switch (rng.int(6)) {
      case 0:
        t = t.slice(0, at) + rng.pick(NOISE) + t.slice(at);
        break;
      case 1:
        t = t.slice(0, at) + t.slice(at + rng.range(1, 8));
        break;
      case 2:
        t = t.slice(0, at);
        break;
      case 3: {
        const len = rng.range(1, 20);
        t = t.slice(0, at) + t.slice(at, at + len) + t.slice(at);
        break;
      }
      case 4:
        t = t.slice(0, at) + String.fromCharCode(rng.int(128)) + t.slice(at + 1);
        break;
      default:
        t = rng.chance(0.5) ? `\ufeff${t}` : `${t}${rng.pick([' ', '\t', ',', 'x', '}'])}`;
    }
  }
  // Lone surrogates cannot be sent as UTF-8 (they would arrive as U+FFFD); bytes that are not
  // UTF-8 have inputs of their own (`hex`).
  return t.replace(/\n/g, rng.chance(0.8) ? '' : '\n').toWellFormed();
}

/** A request carrying `tags` for the known-defect classes; `shape(params)` gives its params. */
function special(rng, ctx, kind) {
  const method = rng.pick(['ping', 'tools/list', 'tools/call', 'prompts/list']);
  const base = { jsonrpc: '2.0', method };
  const call = { name: 'echo', arguments: { text: 'special' } };
  switch (kind) {
    case 'array-params':
      return {
        text: withRawId({ ...base, params: rng.pick([[], [1, 2], ['echo']]) }, idToken(rng, ctx)),
      };
    case 'request-with-result':
      return {
        text: withRawId(
          { ...base, ...(rng.chance(0.5) ? { result: {} } : { error: { code: 1, message: 'x' } }) },
          idToken(rng, ctx),
        ),
      };
    case 'meta-not-object':
      return {
        text: withRawId(
          { ...base, params: { ...call, _meta: rng.pick([[], 'x', 1, true]) } },
          idToken(rng, ctx),
        ),
      };
    case 'huge-progress-token': {
      const token = rng.pick(['9007199254740993', '1e30', '123456789012345678901234567890', '1.5']);
      const text = withRawId(
        { ...base, params: { ...call, _meta: { progressToken: 'TOKEN' } } },
        idToken(rng, ctx),
      );
      return { text: text.replace('"TOKEN"', token) };
    }
    case 'deep-nesting': {
      const depth = rng.pick([100, 1000, 3000, 20000, 100000]);
      const open = rng.chance(0.5) ? '[' : '{"a":';
      const close = open === '[' ? ']' : '}';
      const head = withRawId(
        {
          jsonrpc: '2.0',
          method: 'tools/call',
          params: { name: 'echo', arguments: { text: 'd', x: 'DEEP' } },
        },
        idToken(rng, ctx),
      );
      const [prefix, suffix] = head.split('"DEEP"');
      return {
        text: prefix + open.repeat(depth) + close.repeat(depth) + suffix,
        recipe: { prefix: prefix + open.repeat(depth), repeat: close, count: depth, suffix },
      };
    }
    case 'huge': {
      // Mostly just over the limit; one in ten 20 times over, the size that broke the pipe of
      // a session before the 413 (oversize-body-on-session).
      const count = rng.chance(0.1) ? ctx.maxBytes * 20 : ctx.maxBytes + rng.range(1, 4096);
      const head = withRawId(
        {
          jsonrpc: '2.0',
          method: 'tools/call',
          params: { name: 'echo', arguments: { text: 'BODY' } },
        },
        idToken(rng, ctx),
      );
      const [prefix, suffix] = head.split('BODY');
      return {
        text: prefix + 'x'.repeat(count) + suffix,
        recipe: { prefix, repeat: 'x', count, suffix },
      };
    }
    case 'big-text': {
      const count = rng.range(10_000, 200_000);
      const head = withRawId(
        {
          jsonrpc: '2.0',
          method: 'tools/call',
          params: { name: 'echo', arguments: { text: 'BODY' } },
        },
        idToken(rng, ctx),
      );
      const [prefix, suffix] = head.split('BODY');
      return {
        text: prefix + 'y'.repeat(count) + suffix,
        recipe: { prefix, repeat: 'y', count, suffix },
      };
    }
    case 'duplicate-keys':
      return {
        text: `{"jsonrpc":"2.0","id":${idToken(rng, ctx)},"method":"ping","id":${idToken(rng, ctx)},"method":"tools/list"}`,
      };
    case 'odd-numbers':
      return {
        text: withRawId(
          {
            jsonrpc: '2.0',
            method: 'tools/call',
            params: { name: 'add', arguments: { a: 'A', b: 'B' } },
          },
          idToken(rng, ctx),
        )
          .replace(
            '"A"',
            rng.pick(['1e400', '-0', '1E+2', '0.1e-400', '123456789012345678901234567890']),
          )
          .replace('"B"', rng.pick(['1', '-1e308', '2'])),
      };
    default: // unicode
      return {
        text: withRawId(
          {
            jsonrpc: '2.0',
            method: 'tools/call',
            params: {
              name: 'echo',
              arguments: { text: rng.pick(['\ud800', '\u0000\u0001', '🙂\u200b', '\\u0000']) },
            },
          },
          idToken(rng, ctx),
        ).replace('\\\\u0000', '\\u0000'),
      };
  }
}

export const SPECIAL_KINDS = [
  'array-params',
  'request-with-result',
  'meta-not-object',
  'huge-progress-token',
  'deep-nesting',
  'huge',
  'big-text',
  'duplicate-keys',
  'odd-numbers',
  'unicode',
];

/** One recorded message, with a fresh id if it is a request (never `initialize` unless asked). */
function recordedMessage(rng, ctx, { initialize = false } = {}) {
  const pool = recorded.filter((m) => (m.method === 'initialize') === initialize);
  const m = structuredClone(rng.pick(pool));
  if (!('id' in m)) return { message: m, text: JSON.stringify(m) };
  // Ids are fresh per input, so that inputs in flight on one connection never share one.
  const token = idToken(rng, ctx);
  let id;
  try {
    id = JSON.parse(token);
  } catch {
    id = token;
  }
  m.id = typeof id === 'number' && !Number.isSafeInteger(id) ? ctx.nextId() : id;
  return { message: m, text: withRawId(m, token) };
}

/**
 * One JSON-RPC text. `ctx`: `{ nextId(), maxBytes, huge: share of over-limit messages,
 * initialize: whether an initialize may be produced }`.
 */
export function generateMessage(rng, ctx) {
  const strategy = rng.weighted([
    [30, 'valid'],
    [30, 'fields'],
    [15, 'bytes'],
    [8, 'random'],
    [9, 'special'],
    [ctx.huge ?? 0.2, 'huge'],
  ]);
  switch (strategy) {
    case 'valid':
      return { ...recordedMessage(rng, ctx), tags: ['valid'], message: undefined };
    case 'fields': {
      const { message } = recordedMessage(rng, ctx);
      const mutated = mutateFields(rng, message);
      // A mutated id that is still an id stays unique to this input (replies are matched by id).
      if (typeof mutated.id === 'string' && mutated.id !== message.id)
        mutated.id = `${mutated.id}#${ctx.nextId()}`;
      if (typeof mutated.id === 'number' && mutated.id !== message.id) mutated.id = ctx.nextId();
      const text =
        'id' in mutated && rng.chance(0.5)
          ? withRawId(mutated, idToken(rng, ctx))
          : JSON.stringify(mutated);
      return { text, tags: ['fields'] };
    }
    case 'bytes':
      return { text: mutateBytes(rng, recordedMessage(rng, ctx).text), tags: ['bytes'] };
    case 'random':
      return {
        text: rng.chance(0.5)
          ? (JSON.stringify(randomValue(rng, 4)) ?? 'null')
          : withRawId(
              { jsonrpc: '2.0', method: rng.pick(METHODS), params: randomValue(rng, 2) },
              idToken(rng, ctx),
            ),
        tags: ['random'],
      };
    case 'huge':
      return { ...special(rng, ctx, 'huge'), tags: ['huge'] };
    default: {
      const kind = rng.pick(SPECIAL_KINDS.filter((k) => k !== 'huge'));
      return { ...special(rng, ctx, kind), tags: [kind] };
    }
  }
}

/** An `initialize`, valid or mutated, for the frontends where one opens a session. */
export function generateInitialize(rng, ctx) {
  const { message, text } = recordedMessage(rng, ctx, { initialize: true });
  if (rng.chance(0.4)) return { text, tags: ['initialize'] };
  const mutated = mutateFields(rng, message);
  return { text: withRawId(mutated, idToken(rng, ctx)), tags: ['initialize', 'fields'] };
}

/** A batch (JSON array) of generated messages, for the surfaces that take batches. */
export function generateBatch(rng, ctx) {
  const parts = Array.from(
    { length: rng.range(0, 4) },
    () => generateMessage(rng, { ...ctx, huge: 0 }).text,
  );
  const text = `[${parts.join(',')}]`;
  return { text: rng.chance(0.1) ? `[${text}]` : text, tags: ['batch'] };
}

/** The text behind a generated input (`recipe` expanded). */
export function materialize(item) {
  if (!item.recipe) return item.text;
  const { prefix, repeat, count, suffix } = item.recipe;
  return prefix + repeat.repeat(count) + suffix;
}

/** For a report: the input without its bulk (the recipe stands for the text). */
export function portable(item) {
  if (!item.recipe) return item;
  const rest = { ...item };
  delete rest.text;
  return rest;
}

/** A key for an id as compared on replies: strings by value, numbers by their double. */
export function idKey(id) {
  return typeof id === 'string' ? `s:${id}` : `n:${id}`;
}

/**
 * The requests in `text` that must be answered: each with a readable id (a string or a finite
 * number) that is not a response. `rawId` is the id as written.
 */
export function expectedReplies(text) {
  if (text.length > 4096) return expectedRepliesRaw(text);
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    // Several lines (a line-based surface reads each as a message of its own)?
    return text.includes('\n')
      ? text.split('\n').flatMap((line) => (line ? expectedReplies(line) : []))
      : [];
  }
  const raws = Array.isArray(value)
    ? (rawElements(text.trim().replace(/^\ufeff/, '')) ?? [])
    : [text.trim().replace(/^\ufeff/, '')];
  const items = Array.isArray(value) ? value : [value];
  const out = [];
  items.forEach((item, i) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) return;
    const id = item.id;
    if (!(typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)))) return;
    if (!('method' in item)) return; // a response, or not a message at all
    const rawId = rawMembers(raws[i] ?? '')?.get('id');
    out.push({ id, rawId, key: idKey(id) });
  });
  return out;
}

/** The id of the object `raw`, when it is a request with a readable id; undefined otherwise. */
function rawRequest(raw) {
  const members = rawMembers(raw);
  if (!members || !members.has('method') || !members.has('id')) return undefined;
  const rawId = members.get('id');
  let id;
  try {
    id = JSON.parse(rawId);
  } catch {
    return undefined;
  }
  if (!(typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id))))
    return undefined;
  return { id, rawId, key: idKey(id) };
}

/**
 * `expectedReplies` for a big text (a 200 KB string, 10^5-deep nesting, a body over the limit)
 * without parsing it whole: its top-level members, as written. An invalid text read so may owe a
 * reply it does not; the gateway's refusal of it names no id, which answers it (see
 * Conversation.finish), so the cost is a wait, never a false hang.
 */
function expectedRepliesRaw(text) {
  const t = text.trim().replace(/^\ufeff/, '');
  const raws = t.startsWith('[') ? (rawElements(t) ?? []) : [t];
  return raws.map(rawRequest).filter(Boolean);
}
