/*
 * WebSocket `/ws` (and `/servers/echo/ws`): text frames in the three dialects, each connection
 * fixed to one by its first message. Plain JSON-RPC frames go as they are; control-dialect
 * frames go bare after `create_session` and come back as `{"type":"response","data":…}`;
 * envelope frames wrap the payload (`{"id","timestamp","source","mcp_payload"}`), sometimes with
 * a mutated envelope (no payload, a non-string `auth_token`, a payload that is not an object).
 *
 * Some inputs need a connection of their own, and their expected outcome is a close with a code:
 * a binary frame (1003), a frame over the size limit (1009), text that is not UTF-8 (1007), an
 * upgrade from a foreign Origin (403 before the upgrade), `attach_session` to a session that is
 * not there (an error frame), a client that closes mid-request.
 */
import WebSocket from 'ws';
import { Rng } from '../lib/prng.mjs';
import {
  generateBatch,
  generateInitialize,
  generateMessage,
  materialize,
} from '../lib/generate.mjs';
import { Conversation, EDGE_FENCE, plain } from '../lib/conversation.mjs';
import { runStreams } from '../lib/streams.mjs';
import { INITIALIZE } from '../lib/checks.mjs';
import { internalsIn } from '../lib/verdict.mjs';
import { rawElements, rawMembers } from '../lib/json-raw.mjs';

const DIALECTS = [
  [50, 'jsonrpc'],
  [25, 'control'],
  [25, 'envelope'],
];

/** Control-dialect sessions outlive their socket for this long (reattachGraceMs, not configurable). */
export const CONTROL_GRACE_MS = 60_000;

export function buildInput(seed, index, { maxBytes }) {
  const rng = new Rng(`${seed}:ws:${index}`);
  let n = 0;
  const ctx = { nextId: () => index * 16 + n++, maxBytes, huge: 0 };
  const kind = rng.weighted([
    [90, 'frame'],
    [3, 'batch'],
    [0.3, 'initialize'],
    [3, 'envelope-fuzz'],
    [3.7, 'single'],
  ]);
  const item =
    kind === 'batch'
      ? generateBatch(rng, ctx)
      : kind === 'initialize'
        ? generateInitialize(rng, ctx)
        : generateMessage(rng, ctx);
  const input = { frontend: 'ws', kind, text: item.text, tags: item.tags, maxBytes };
  if (item.recipe) input.recipe = item.recipe;
  if (kind === 'envelope-fuzz')
    input.envelope = rng.pick([
      'no-payload',
      'token-number',
      'token-object',
      'payload-string',
      'payload-array',
      'null-payload',
      'no-source',
    ]);
  if (kind === 'single') {
    input.single = rng.pick([
      'binary',
      'oversize',
      'not-utf8',
      'origin-null',
      'origin-evil',
      'attach-missing',
      'close-mid-call',
      'bad-subprotocol',
      'control-unknown-type',
    ]);
    input.path = rng.chance(0.5) ? '/ws' : '/servers/echo/ws';
    // Frame-level refusals: one in four on a live session (see `single`).
    if (['binary', 'oversize', 'not-utf8'].includes(input.single) && index % 4 === 0)
      input.live = true;
    if (input.single === 'origin-null') input.headers = { origin: 'null' };
    if (input.single === 'origin-evil') input.headers = { origin: 'http://evil.example' };
  }
  return input;
}

function envelope(payload, input) {
  const head = `{"id":"env-${Math.random().toString(36).slice(2)}","timestamp":"${new Date().toISOString()}","source":"fuzz"`;
  switch (input?.envelope) {
    case 'no-payload':
      return `${head}}`;
    case 'token-number':
      return `${head},"auth_token":12345,"mcp_payload":${payload}}`;
    case 'token-object':
      return `${head},"auth_token":{"a":1},"mcp_payload":${payload}}`;
    case 'payload-string':
      return `${head},"mcp_payload":${JSON.stringify(payload)}}`;
    case 'payload-array':
      return `${head},"mcp_payload":[${payload}]}`;
    case 'null-payload':
      return `${head},"mcp_payload":null}`;
    case 'no-source':
      return `{"id":1,"mcp_payload":${payload}}`;
    default:
      return `${head},"mcp_payload":${payload}}`;
  }
}

/** What a frame from the gateway carries, in `dialect`. */
function unwrap(dialect, raw) {
  if (dialect === 'jsonrpc') return plain(raw);
  let frame;
  try {
    frame = JSON.parse(raw);
  } catch {
    return { raw, stray: 'not JSON' };
  }
  if (dialect === 'control') {
    if (frame?.type === 'error') return { raw, stray: frame.error };
    const data = rawMembers(raw)?.get('data');
    return data
      ? { raw: data, message: frame.data }
      : { raw, stray: 'a control frame without data' };
  }
  const payload = rawMembers(raw)?.get('mcp_payload');
  if (!payload) return { raw, stray: 'an envelope without mcp_payload' };
  // The gateway answers an envelope it could not read with the envelope's own id: the whole frame.
  const whole =
    typeof frame.mcp_payload?.id === 'string' && frame.mcp_payload.id.startsWith('env-');
  return { raw: payload, message: frame.mcp_payload, whole };
}

/**
 * The replies to a batch come in one frame, as an array (in the connection's dialect): each is
 * judged on its own, as HTTP's batch replies are. An empty or unreadable array stays one reply
 * (and is judged bad).
 */
function members(delivery) {
  const { message, raw, whole } = delivery;
  if (!Array.isArray(message) || message.length === 0) return [delivery];
  const raws = rawElements(raw);
  if (!raws || raws.length !== message.length) return [delivery];
  return message.map((one, i) => ({ raw: raws[i], message: one, whole }));
}

function connect(url, options = {}) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, 'mcp', { ...options, handshakeTimeout: 5000 });
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () =>
        resolve({
          refused: {
            status: res.statusCode,
            type: String(res.headers['content-type'] ?? ''),
            body,
          },
        }),
      );
    });
    ws.once('error', (error) => resolve({ error }));
  });
}

const closed = (ws) =>
  new Promise((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })),
  );

/** An input on a connection of its own; its verdict. */
async function single(input, gw, deadlineMs) {
  const url = `ws://127.0.0.1:${gw.port}${input.path}`;
  const kind = input.single;
  const headers =
    kind === 'origin-null'
      ? { origin: 'null' }
      : kind === 'origin-evil'
        ? { origin: 'http://evil.example' }
        : undefined;
  const conn =
    kind === 'bad-subprotocol'
      ? await connectWith(url, 'not-mcp')
      : await connect(url, headers ? { headers } : {});
  if (conn.refused) {
    const v = [];
    let json = false;
    try {
      JSON.parse(conn.refused.body);
      json = /json/.test(conn.refused.type);
    } catch {
      // not JSON
    }
    // A refused upgrade is a clear answer whatever its body (WebSocket clients show the status).
    if (conn.refused.status < 400)
      v.push({ kind: 'bad-reply', detail: `upgrade answered ${conn.refused.status}` });
    if (json === false && conn.refused.status === 500)
      v.push({ kind: 'internal-error', detail: conn.refused.body.slice(0, 80) });
    const leak = internalsIn(conn.refused.body);
    if (leak) v.push({ kind: 'stack-trace', detail: leak });
    return { cls: conn.refused.status >= 500 ? 'http-5xx' : 'http-4xx', violations: v };
  }
  // The gateway need not pick a subprotocol it does not speak; the client then gives up.
  if (
    conn.error &&
    kind === 'bad-subprotocol' &&
    /no subprotocol|Invalid Sec-WebSocket-Protocol/.test(conn.error.message)
  )
    return { cls: 'closed', violations: [] };
  if (conn.error)
    return {
      cls: 'closed',
      violations: [{ kind: 'reset', detail: `upgrade failed: ${conn.error.message}` }],
    };
  const ws = conn.ws;
  ws.on('error', () => {});
  const end = closed(ws);
  const frames = [];
  ws.on('message', (data) => frames.push(String(data)));
  const v = [];
  const expectClose = async (codes, what) => {
    const timer = new Promise((r) => setTimeout(() => r({ timeout: true }), deadlineMs));
    const r = await Promise.race([end, timer]);
    if (r.timeout) v.push({ kind: 'hang', detail: `${what}: no close within ${deadlineMs} ms` });
    else if (!codes.includes(r.code))
      v.push({
        kind: r.code === 1006 ? 'reset' : 'bad-reply',
        detail: `${what}: closed with ${r.code}, expected ${codes.join(' or ')}`,
      });
    return r;
  };
  try {
    if (kind === 'origin-null' || kind === 'origin-evil') {
      // Served instead of refused: the page behind that Origin can drive the gateway.
      v.push({ kind: 'origin-accepted', detail: `upgrade from Origin ${headers.origin} accepted` });
      ws.close(1000);
      return { cls: 'ok', violations: v };
    }
    if (kind === 'bad-subprotocol') {
      ws.close(1000);
      return { cls: 'ok', violations: v };
    }
    // A session first (its backend process started, and ended by the close) where the input
    // needs one: a call cut off; one frame-level refusal in four, the others on a bare connection
    // (a process start costs more than all the rest of an input). `attach_session` and an unknown
    // control type go first, as a control-dialect client sends them.
    if (kind === 'close-mid-call' || input.live)
      ws.send(JSON.stringify({ ...INITIALIZE, id: 'init' }));
    if (kind === 'binary') {
      ws.send(Buffer.from(materialize(input)), { binary: true });
      await expectClose([1003], 'a binary frame');
    } else if (kind === 'oversize') {
      ws.send(
        `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"${'x'.repeat(input.maxBytes + 10)}"}}`,
      );
      await expectClose([1009], 'a frame over the limit');
    } else if (kind === 'not-utf8') {
      ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
      await expectClose([1007], 'a text frame that is not UTF-8');
    } else if (kind === 'attach-missing' || kind === 'control-unknown-type') {
      ws.send(
        kind === 'attach-missing'
          ? '{"type":"attach_session","session_id":"nope"}'
          : '{"type":"create_session"}',
      );
      if (kind === 'control-unknown-type') ws.send('{"type":"launch_missiles"}');
      const deadline = Date.now() + deadlineMs;
      while (
        !frames.some((f) => /"type":"error"|"error"/.test(f)) &&
        Date.now() < deadline &&
        ws.readyState === WebSocket.OPEN
      )
        await new Promise((r) => setTimeout(r, 20));
      if (!frames.some((f) => /"error"/.test(f)) && ws.readyState === WebSocket.OPEN)
        v.push({ kind: 'hang', detail: `${kind}: no error frame` });
      ws.close(1000);
    } else {
      ws.send(
        JSON.stringify({
          jsonrpc: '2.0',
          id: 'mid',
          method: 'tools/call',
          params: { name: 'echo__echo', arguments: { text: 'bye' } },
        }),
      );
      ws.terminate();
    }
    for (const f of frames) {
      const leak = internalsIn(f);
      if (leak) v.push({ kind: 'stack-trace', detail: leak });
    }
    return { cls: 'closed', violations: v };
  } finally {
    if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
    await end;
  }
}

function connectWith(url, protocol) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocol, { handshakeTimeout: 5000 });
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () =>
        resolve({
          refused: {
            status: res.statusCode,
            type: String(res.headers['content-type'] ?? ''),
            body,
          },
        }),
      );
    });
    ws.once('error', (error) => resolve({ error }));
  });
}

export async function runBatch({ gw, seed, from, to, tally, options, inputs }) {
  let counter = 0;
  let controlSessions = 0;
  const open = async () => {
    const dialect = new Rng(`${seed}:ws-dialect:${from}:${counter}`).weighted(DIALECTS);
    const path = counter++ % 3 === 0 ? '/ws' : '/servers/echo/ws';
    const { ws, error, refused } = await connect(`ws://127.0.0.1:${gw.port}${path}`);
    if (!ws) throw new Error(`cannot open ${path}: ${error?.message ?? refused?.status}`);
    ws.on('error', () => {});
    const wrap = (payload, input) => (dialect === 'envelope' ? envelope(payload, input) : payload);
    const conversation = new Conversation({
      deadlineMs: options.deadlineMs,
      send: (text) => ws.send(text),
      fence: (id) => wrap(EDGE_FENCE(id)),
      sparse: true,
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return conversation.deliver({ raw: '', stray: 'binary' });
      for (const one of members(unwrap(dialect, String(data)))) conversation.deliver(one);
    });
    ws.on('close', (code) => conversation.close(`closed with ${code}`));
    if (dialect === 'control') {
      controlSessions++;
      ws.send('{"type":"create_session"}');
    }
    const { done } = await conversation.exchange(
      wrap(JSON.stringify({ ...INITIALIZE, id: 'init' })),
      JSON.stringify({ ...INITIALIZE, id: 'init' }),
    );
    await done;
    ws.send(wrap('{"jsonrpc":"2.0","method":"notifications/initialized"}'));
    return {
      conversation,
      frame: (input) => {
        input.dialect = dialect;
        const payload = materialize(input);
        // An envelope that does not carry the payload as its object owes no reply to its requests.
        const carried =
          dialect !== 'envelope' ||
          !input.envelope ||
          ['token-number', 'token-object', 'no-source'].includes(input.envelope);
        return { text: wrap(payload, input), payload: carried ? payload : '' };
      },
      close: async () => {
        if (ws.readyState === WebSocket.CLOSED) return;
        const end = closed(ws);
        ws.close(1000);
        await end;
      },
    };
  };
  const result = await runStreams({
    from,
    to,
    tally,
    inputs,
    connections: Math.max(1, Math.min(8, options.concurrency >> 3)),
    window: options.window,
    build: (i) => buildInput(seed, i, options),
    open,
    single: (input) => single(input, gw, options.deadlineMs),
  });
  // Control-dialect sessions wait CONTROL_GRACE_MS for a reattach before ending their backend.
  return { ...result, controlSessions, lingering: controlSessions };
}
