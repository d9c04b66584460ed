/*
 * The framed TCP protocol (`server.tcp`, `--tcp-port`, docs/tcp-protocol.md): 12-byte headers
 * (magic "MCPB", version, type, length) and their payloads, one session per connection.
 *
 * On live connections (a version negotiation first on half of them, then `initialize`): request
 * frames carrying generated and mutated messages, batches, `{"auth_token","message"}`
 * envelopes, health and control frames. The fence after an input is a health frame with an id of
 * ours, which the gateway answers as it reads it, in order with its refusals.
 *
 * On connections of their own, the frames that break the protocol, each of which must be
 * answered with an error frame (type 5, text starting with a `TCP_` code) and a close, never a
 * crash, a hang or a bare reset: a payload that is not JSON, a frame over the limit, bad magic,
 * version or type, a frame only the gateway sends (response, version ack), a second or bad
 * negotiation, no common version, an HTTP request or random bytes on the port, and byte
 * mutations of a recorded valid frame (its header included). Besides: a valid frame written a
 * byte at a time (must be answered), a client error frame and a frame cut off by the client
 * closing (the gateway just closes), a length that promises more than is sent (the gateway waits;
 * the harness closes).
 */
import { connect } from 'node:net';
import { Rng } from '../lib/prng.mjs';
import {
  generateBatch,
  generateInitialize,
  generateMessage,
  materialize,
  recorded,
} from '../lib/generate.mjs';
import { Conversation } from '../lib/conversation.mjs';
import { runStreams } from '../lib/streams.mjs';
import { INITIALIZE } from '../lib/checks.mjs';
import { internalsIn, judgeMessage } from '../lib/verdict.mjs';
import { HEADER, TYPE, frame, frameReader } from '../lib/frames.mjs';

const OFFER = '{"min_version":1,"max_version":1,"preferred_version":1,"supported_versions":[1]}';

/** Breaks of the protocol, each on a connection of its own (see `single`). */
const BREAKS = [
  'bad-magic',
  'bad-version',
  'unknown-type',
  'too-large-header',
  'client-response',
  'client-ack',
  'second-negotiation',
  'bad-negotiation',
  'no-common-version',
  'health-not-json',
  'control-not-json',
  'http-on-port',
  'random-bytes',
  'mutated-frame',
  'length-short',
  'length-long',
  'one-byte-at-a-time',
  'client-error-frame',
  'cut-mid-frame',
];

/** Whether the gateway's JSON.parse takes `text` (a request frame it cannot parse closes). */
function parses(text) {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

export function buildInput(seed, index, { maxBytes }) {
  const rng = new Rng(`${seed}:tcp:${index}`);
  let n = 0;
  const ctx = { nextId: () => index * 16 + n++, maxBytes, huge: 0.05 };
  const kind = rng.weighted([
    [80, 'frame'],
    [4, 'batch'],
    [0.3, 'initialize'],
    [3, 'envelope'],
    [2, 'health'],
    [2, 'control'],
    [8, 'break'],
  ]);
  const item =
    kind === 'batch'
      ? generateBatch(rng, ctx)
      : kind === 'initialize'
        ? generateInitialize(rng, ctx)
        : generateMessage(rng, kind === 'break' ? { ...ctx, huge: 0 } : ctx);
  const input = { frontend: 'tcp', kind, text: item.text, tags: item.tags, maxBytes };
  if (item.recipe) input.recipe = item.recipe;
  if (kind === 'envelope')
    input.envelope = rng.pick(['token-string', 'token-number', 'token-null', 'no-token', 'nested']);
  if (kind === 'health')
    input.health = rng.pick(['ping-id', 'ping-empty', 'pong', 'array', 'string', 'ping-object-id']);
  if (kind === 'control')
    input.control = rng.pick(['unknown', 'auth-no-token', 'auth-token', 'array', 'null']);
  if (kind === 'break') {
    input.single = rng.pick(BREAKS);
    if (input.single === 'mutated-frame') {
      // A recorded valid frame, a few bytes of it (header or payload) replaced, dropped or added.
      const message = rng.pick(recorded.filter((m) => m.method !== 'initialize'));
      const bytes = [...frame(TYPE.request, JSON.stringify(message))];
      for (let k = rng.range(1, 3); k > 0; k--) {
        const at = rng.chance(0.6) ? rng.int(HEADER) : rng.int(bytes.length);
        const op = rng.pick(['replace', 'delete', 'insert']);
        if (op === 'replace') bytes[at] = rng.int(256);
        else if (op === 'delete') bytes.splice(at, 1);
        else bytes.splice(at, 0, rng.int(256));
      }
      input.hex = Buffer.from(bytes).toString('hex');
    }
    if (input.single === 'random-bytes')
      input.hex = Buffer.from(
        Array.from({ length: rng.range(1, 64) }, () => rng.int(256)),
      ).toString('hex');
    if (input.single === 'unknown-type') input.type = rng.pick([0, 8, 9, 255, 65535]);
    if (input.single === 'bad-version') input.version = rng.pick([0, 2, 255, 65535]);
  } else if (kind !== 'health' && kind !== 'control') {
    // What cannot be a request frame on a live connection gets one of its own: a payload the
    // gateway cannot parse, or one over the frame limit, is a protocol failure that ends it.
    const text = materialize(input);
    if (Buffer.byteLength(text) > maxBytes) input.single = 'too-large';
    else if (kind !== 'envelope' && !parses(text)) input.single = 'bad-payload';
  }
  return input;
}

/** The request frame's payload of an input on a live connection, and the JSON-RPC inside it. */
function payloadOf(input) {
  const text = materialize(input);
  if (input.kind !== 'envelope') return { wire: text, payload: text };
  const message = parses(text) ? text : JSON.stringify(text);
  switch (input.envelope) {
    case 'token-string':
      return { wire: `{"auth_token":"fuzz-token","message":${message}}`, payload: text };
    case 'token-number':
      return { wire: `{"auth_token":42,"message":${message}}`, payload: text };
    case 'token-null':
      return { wire: `{"auth_token":null,"message":${message}}`, payload: text };
    case 'nested':
      return { wire: `{"message":{"message":${message}}}`, payload: '' };
    default:
      return { wire: `{"message":${message}}`, payload: text };
  }
}

/** The bytes of a health or control input. */
function sideFrame(input) {
  if (input.kind === 'health') {
    const payload = {
      'ping-id': `{"kind":"ping","id":"h-${input.text.length}"}`,
      'ping-empty': '',
      pong: '{"kind":"pong","id":1}',
      array: '[1,2]',
      string: '"ping"',
      'ping-object-id': '{"kind":"ping","id":{"a":[1]}}',
    }[input.health];
    return frame(TYPE.health, payload);
  }
  const payload = {
    unknown: '{"type":"launch_missiles"}',
    'auth-no-token': '{"type":"auth"}',
    'auth-token': '{"type":"auth","auth_token":"fuzz-token"}',
    array: '[]',
    null: 'null',
  }[input.control];
  return frame(TYPE.control, payload);
}

/** A live connection: negotiated (or not), initialized, with a Conversation over it. */
async function openLive(port, negotiate, deadlineMs) {
  const socket = connect(port, '127.0.0.1');
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.setNoDelay(true);
  socket.on('error', () => {});
  const conversation = new Conversation({
    deadlineMs,
    sparse: true,
    fence: (id) => frame(TYPE.health, `{"kind":"ping","id":"${id}"}`),
    send: (bytes) => {
      if (socket.destroyed || socket.writableEnded) throw new Error('the socket is closed');
      socket.write(bytes);
    },
  });
  let acked;
  const ack = new Promise((resolve) => (acked = resolve));
  const onFrame = ({ type, payload }) => {
    const raw = payload.toString('utf8');
    if (type === TYPE.response) {
      try {
        return conversation.deliver({ raw, message: JSON.parse(raw) });
      } catch {
        return conversation.deliver({ raw, stray: 'a response frame that is not JSON' });
      }
    }
    if (type === TYPE.health) {
      let value;
      try {
        value = JSON.parse(raw);
      } catch {
        return conversation.deliver({ raw, stray: 'a health frame that is not JSON' });
      }
      // A pong to a fence answers it; the others answer health inputs, which owe no JSON-RPC.
      if (typeof value?.id === 'string' && value.id.startsWith('fence-'))
        return conversation.deliver({ raw, message: { jsonrpc: '2.0', id: value.id, result: {} } });
      return undefined;
    }
    if (type === TYPE.versionAck) return acked(raw);
    if (type === TYPE.control) {
      // An auth_ok answers an auth; an error control frame is a clear refusal of one input.
      if (/"type"\s*:\s*"error"/.test(raw)) conversation.deliver({ raw, stray: 'control error' });
      const leak = internalsIn(raw);
      if (leak) conversation.deliver({ raw, stray: `stack in a control frame: ${leak}` });
      return undefined;
    }
    // An error frame on a live connection: the gateway is about to close it (a backend gone).
    return conversation.deliver({ raw, stray: `error frame: ${raw.slice(0, 200)}` });
  };
  socket.on(
    'data',
    frameReader(onFrame, (garbage) =>
      conversation.deliver({
        raw: garbage.toString('latin1').slice(0, 200),
        stray: 'bytes that are not a frame',
      }),
    ),
  );
  socket.on('close', () => conversation.close('the gateway closed the connection'));
  if (negotiate) {
    socket.write(frame(TYPE.version, OFFER));
    const agreed = await Promise.race([
      ack,
      new Promise((r) => setTimeout(() => r(undefined), deadlineMs)),
    ]);
    if (!agreed) throw new Error('no version ack within the deadline');
  }
  const init = JSON.stringify({ ...INITIALIZE, id: 'init' });
  const { done } = await conversation.exchange(frame(TYPE.request, init), init);
  const verdict = await done;
  if (verdict.violations.length > 0 || verdict.cls !== 'ok')
    throw new Error(`initialize over TCP failed: ${JSON.stringify(verdict).slice(0, 300)}`);
  socket.write(frame(TYPE.request, '{"jsonrpc":"2.0","method":"notifications/initialized"}'));
  return {
    conversation,
    frame: (input) => {
      if (input.kind === 'health' || input.kind === 'control')
        return { text: sideFrame(input), payload: '' };
      const { wire, payload } = payloadOf(input);
      return { text: frame(TYPE.request, wire), payload, owner: payload === '' ? wire : undefined };
    },
    close: async () => {
      if (socket.destroyed) return;
      socket.end();
      await new Promise((r) => (socket.closed ? r() : socket.once('close', r)));
    },
  };
}

/** The bytes a protocol break writes, and what the gateway owes it. */
function breakBytes(input) {
  const text = input.text !== undefined || input.recipe ? materialize(input) : '';
  const request = (t = text) => frame(TYPE.request, t);
  switch (input.single) {
    case 'bad-payload':
      return { bytes: [request()], expect: 'error' };
    case 'too-large':
      return {
        bytes: [frame(TYPE.request, '', { length: Buffer.byteLength(text) })],
        expect: 'error',
      };
    case 'bad-magic':
      return { bytes: [frame(TYPE.request, text, { magic: 0x4d435043 })], expect: 'error' };
    case 'bad-version':
      return { bytes: [frame(TYPE.request, text, { version: input.version })], expect: 'error' };
    case 'unknown-type':
      return { bytes: [frame(input.type, text)], expect: 'error' };
    case 'too-large-header':
      return { bytes: [frame(TYPE.request, '', { length: 0xffffffff })], expect: 'error' };
    case 'client-response':
      return {
        bytes: [frame(TYPE.response, '{"jsonrpc":"2.0","id":1,"result":{}}')],
        expect: 'error',
      };
    case 'client-ack':
      return { bytes: [frame(TYPE.versionAck, '{"agreed_version":1}')], expect: 'error' };
    case 'second-negotiation':
      return { bytes: [frame(TYPE.version, OFFER), frame(TYPE.version, OFFER)], expect: 'error' };
    case 'bad-negotiation':
      return { bytes: [frame(TYPE.version, text.slice(0, 40) || 'x')], expect: 'error' };
    case 'no-common-version':
      return {
        bytes: [
          frame(
            TYPE.version,
            '{"min_version":2,"max_version":9,"preferred_version":3,"supported_versions":[2,3]}',
          ),
        ],
        expect: 'error',
      };
    case 'health-not-json':
      return { bytes: [frame(TYPE.health, '{"kind":')], expect: 'error' };
    case 'control-not-json':
      return { bytes: [frame(TYPE.control, 'auth please')], expect: 'error' };
    case 'http-on-port':
      return {
        bytes: [Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 'latin1')],
        expect: 'error',
      };
    case 'random-bytes':
    case 'mutated-frame':
      // Whatever the bytes turned into: refused with an error frame, waited for (a length that
      // promises more), or, if they are still a valid frame, answered.
      return { bytes: [Buffer.from(input.hex, 'hex')], expect: 'any' };
    case 'length-short': {
      const body = Buffer.from(text);
      const cut = Math.max(0, body.length - 1 - (body.length >> 2));
      // The rest of the payload is read as the next header: bad magic.
      return {
        bytes: [Buffer.concat([frame(TYPE.request, body.subarray(0, cut)), body.subarray(cut)])],
        expect: body.length - cut >= HEADER ? 'error' : 'any',
      };
    }
    case 'length-long':
      return {
        bytes: [frame(TYPE.request, text, { length: Buffer.byteLength(text) + 100 })],
        expect: 'wait',
      };
    case 'one-byte-at-a-time': {
      const init = JSON.stringify({ ...INITIALIZE, id: 'init' });
      return {
        bytes: [...frame(TYPE.request, init)].map((b) => Buffer.from([b])),
        expect: 'reply',
      };
    }
    case 'client-error-frame':
      return { bytes: [frame(TYPE.error, 'TCP_FUZZ: the client gives up')], expect: 'close' };
    case 'cut-mid-frame':
      return { bytes: [request().subarray(0, HEADER + 3)], expect: 'cut' };
    default:
      throw new Error(`unknown TCP break ${input.single}`);
  }
}

/**
 * A protocol break on a connection of its own; its verdict. An error frame must be a `TCP_*` text
 * without internals, and the close must follow it within the deadline.
 */
async function single(input, port, deadlineMs) {
  const { bytes, expect } = breakBytes(input);
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  const opened = await new Promise((resolve) =>
    socket.once('connect', () => resolve(true)).once('error', () => resolve(false)),
  );
  if (!opened) return { cls: 'closed', violations: [{ kind: 'reset', detail: 'connect failed' }] };
  const frames = [];
  let garbage = false;
  let settle;
  const settled = new Promise((r) => (settle = r));
  // Done when the gateway closed, when a frame written a byte at a time got its reply, or when a
  // break that owes nothing (a length that promises more, mutated bytes) got nothing for a while;
  // an error frame that came must be followed by the close within the deadline.
  let quiet = setTimeout(
    () => settle(false),
    expect === 'wait' ? 600 : expect === 'any' ? 1000 : deadlineMs,
  );
  socket.on(
    'data',
    frameReader(
      (f) => {
        frames.push(f);
        if (expect === 'reply' && f.type === TYPE.response) settle(false);
        if (f.type === TYPE.error && expect === 'any') {
          clearTimeout(quiet);
          quiet = setTimeout(() => settle(false), deadlineMs);
        }
      },
      () => (garbage = true),
    ),
  );
  const closed = new Promise((r) => socket.once('close', () => (settle(true), r(true))));
  for (const b of bytes) {
    if (socket.destroyed) break;
    socket.write(b);
    if (bytes.length > 1 && expect === 'reply') await new Promise((r) => setImmediate(r));
  }
  if (expect === 'cut' || expect === 'close') socket.end();
  const ended = await settled;
  clearTimeout(quiet);
  if (!socket.destroyed) socket.destroy();
  await closed;
  if (process.env.FUZZ_TRACE)
    process.stderr.write(
      `tcp ${input.single} (${expect}): ${ended ? 'closed' : 'open'}; ${frames.map((f) => `${f.type}:${f.payload.toString('utf8').slice(0, 80)}`).join(' | ')}\n`,
    );
  const v = [];
  if (garbage) v.push({ kind: 'bad-reply', detail: 'the gateway sent bytes that are not a frame' });
  const errors = frames.filter((f) => f.type === TYPE.error).map((f) => f.payload.toString('utf8'));
  let rpcError = false;
  for (const f of frames) {
    const raw = f.payload.toString('utf8');
    const leak = internalsIn(raw, input.text ?? '');
    if (leak) v.push({ kind: 'stack-trace', detail: leak });
    if (f.type === TYPE.response) {
      try {
        const j = judgeMessage(JSON.parse(raw), raw, input.text ?? '');
        v.push(...j.violations);
        if (j.cls === 'rpc-error') rpcError = true;
      } catch {
        v.push({
          kind: 'bad-reply',
          detail: `a response frame that is not JSON: ${raw.slice(0, 120)}`,
        });
      }
    }
  }
  for (const e of errors)
    if (!/^TCP_[A-Z_]+: /.test(e))
      v.push({ kind: 'bad-reply', detail: `error frame "${e.slice(0, 120)}"` });
  if (expect === 'error' || (expect === 'any' && errors.length > 0)) {
    if (errors.length === 0 && !rpcError)
      v.push({
        kind: ended ? 'reset' : 'hang',
        detail: ended
          ? `${input.single}: closed without an error frame`
          : `${input.single}: no error frame within ${deadlineMs} ms`,
      });
    else if (errors.length > 0 && !ended)
      v.push({
        kind: 'hang',
        detail: `${input.single}: the error frame was not followed by a close`,
      });
    return { cls: errors.length > 0 ? 'closed' : 'rpc-error', violations: v };
  }
  if (expect === 'reply') {
    if (!frames.some((f) => f.type === TYPE.response))
      v.push({
        kind: 'hang',
        detail: `${input.single}: a frame written a byte at a time got no reply`,
      });
    return { cls: 'ok', violations: v };
  }
  // The client closed (its own error frame, a frame cut off): the gateway must close too.
  if ((expect === 'cut' || expect === 'close') && !ended)
    v.push({ kind: 'hang', detail: `${input.single}: the gateway kept the connection open` });
  // 'wait', or 'any' without an error frame: nothing is owed but a clean end.
  return { cls: 'closed', violations: v };
}

export async function runBatch({ gw, seed, from, to, tally, options, inputs }) {
  const port = gw.tcpPort;
  if (!port) throw new Error('the gateway serves no TCP frontend (server.tcp)');
  let counter = 0;
  return runStreams({
    from,
    to,
    tally,
    inputs,
    connections: Math.max(1, Math.min(8, options.concurrency >> 3)),
    window: options.window,
    singles: 4,
    build: (i) => buildInput(seed, i, options),
    open: () => openLive(port, counter++ % 2 === 0, options.deadlineMs),
    single: (input) => single(input, port, options.deadlineMs),
  });
}
