/*
 * Legacy HTTP+SSE: `GET /sse` opens a session and its stream; bodies go to the `endpoint` it
 * names (`/messages?sessionId=…`). A POST the gateway refuses (400, 404, 413, 415) is answered in
 * its own response, which must then be JSON; one it accepts (202) is answered on the stream,
 * matched by id and fenced as on the other streams. Some inputs fuzz the POST itself: its
 * session id, Content-Type and Origin.
 */
import { Agent, request } from 'node:http';
import { Rng } from '../lib/prng.mjs';
import { generateBatch, generateMessage, materialize } from '../lib/generate.mjs';
import { Conversation } from '../lib/conversation.mjs';
import { runStreams } from '../lib/streams.mjs';
import { send } from '../lib/http-client.mjs';
import { INITIALIZE } from '../lib/checks.mjs';
import { judge as judgeHttp } from './http/judge.mjs';

const PATHS = [
  [80, ''],
  [20, '/servers/echo'],
];

export function buildInput(seed, index, { maxBytes }) {
  const rng = new Rng(`${seed}:sse:${index}`);
  let n = 0;
  const ctx = { nextId: () => index * 16 + n++, maxBytes, huge: 0.05 };
  const item = rng.chance(0.06) ? generateBatch(rng, ctx) : generateMessage(rng, ctx);
  const input = {
    frontend: 'sse',
    kind: 'message',
    text: item.text,
    tags: item.tags,
    maxBytes,
    headers: { 'content-type': 'application/json' },
  };
  if (item.recipe) input.recipe = item.recipe;
  if (rng.chance(0.1)) {
    input.kind = 'post-fuzz';
    const which = rng.int(6);
    if (which === 0)
      input.session = rng.pick([
        '',
        'nope',
        '00000000-0000-0000-0000-000000000000',
        'x'.repeat(3000),
        '$S&sessionId=other',
      ]);
    if (which === 1)
      input.headers['content-type'] = rng.pick([
        'text/plain',
        '',
        'application/json; charset=latin1',
        'multipart/form-data',
      ]);
    if (which === 2)
      input.headers.origin = rng.pick(['null', 'http://evil.example', 'http://allowed.example']);
    if (which === 3) input.headers['content-encoding'] = rng.pick(['gzip', 'br']);
    if (which === 4) input.session = '$NONE';
    if (which === 5) input.headers.host = 'evil.example';
  }
  return input;
}

/** Opens `GET <base>/sse` and resolves once its `endpoint` event has come. */
function openStream(port, base, onMessage, onClose) {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path: `${base}/sse`,
      headers: { accept: 'text/event-stream' },
    });
    req.on('error', (e) => (onClose(`stream error ${e.code ?? e.message}`), reject(e)));
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return reject(new Error(`GET /sse: ${res.statusCode}`));
      }
      res.setEncoding('utf8');
      let buf = '';
      let endpoint;
      res.on('data', (chunk) => {
        buf += chunk;
        let at;
        while ((at = buf.search(/\r?\n\r?\n/)) >= 0) {
          const event = buf.slice(0, at);
          buf = buf.slice(at).replace(/^\r?\n\r?\n/, '');
          const type = /^event: ?(.*)$/m.exec(event)?.[1] ?? 'message';
          const data = event
            .split(/\r?\n/)
            .filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5).replace(/^ /, ''))
            .join('\n');
          if (type === 'endpoint' && !endpoint) {
            endpoint = data;
            resolve({ endpoint, close: () => req.destroy() });
          } else if (data) onMessage(data);
        }
      });
      res.on('close', () => onClose('the gateway ended the stream'));
    });
    req.end();
  });
}

export async function runBatch({ gw, seed, from, to, tally, options, inputs }) {
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  let counter = 0;
  const open = async () => {
    const base = PATHS[counter++ % 2 === 0 ? 0 : 1][1];
    let conversation;
    const stream = await openStream(
      gw.port,
      base,
      (data) => {
        try {
          conversation.deliver({ raw: data, message: JSON.parse(data) });
        } catch {
          conversation.deliver({ raw: data, stray: 'not JSON' });
        }
      },
      (why) => conversation?.close(why),
    );
    const url = new URL(stream.endpoint, gw.base);
    const sessionId = url.searchParams.get('sessionId');
    const post = (body, input) => {
      let path = url.pathname + url.search;
      if (input?.session === '$NONE') path = url.pathname;
      else if (input?.session !== undefined)
        path = `${url.pathname}?sessionId=${encodeURIComponent(input.session.replace('$S', sessionId))}`;
      const headers = {
        ...(input?.headers ?? { 'content-type': 'application/json' }),
        'content-length': String(Buffer.byteLength(body)),
      };
      return send(agent, {
        port: gw.port,
        method: 'POST',
        path,
        headers,
        body,
        deadlineMs: options.deadlineMs,
      });
    };
    conversation = new Conversation({
      deadlineMs: options.deadlineMs,
      send: (text) =>
        void post(text).then(
          (res) =>
            res.status !== 202 && conversation.close(`a fence POST got ${res.status ?? res.error}`),
        ),
    });
    const { done } = await conversation.exchange(JSON.stringify({ ...INITIALIZE, id: 'init' }));
    await done;
    await post('{"jsonrpc":"2.0","method":"notifications/initialized"}');
    return {
      conversation,
      frame: (input) => ({ text: materialize(input), payload: materialize(input) }),
      exchangeOptions: (input) => ({
        // The POST's own answer: 202 sends the replies to the stream; anything else is judged here.
        sendInput: async (text) => {
          const res = await post(text, input);
          if (res.status === 202 && !res.error) return undefined;
          if (process.env.FUZZ_TRACE)
            process.stderr.write(
              `refused ${res.status ?? res.error} ${String(res.body ?? '').slice(0, 200)} ← ${text.slice(0, 120)}\n`,
            );
          return judgeHttp(
            { ...input, method: 'POST', path: '/messages' },
            { res, text, headers: input.headers },
            gw.port,
          );
        },
      }),
      close: async () => stream.close(),
    };
  };
  try {
    return await runStreams({
      from,
      to,
      tally,
      inputs,
      connections: Math.max(1, Math.min(8, options.concurrency >> 3)),
      build: (i) => buildInput(seed, i, options),
      open,
      single: async () => ({ cls: 'closed', violations: [] }),
    });
  } finally {
    agent.destroy();
  }
}
