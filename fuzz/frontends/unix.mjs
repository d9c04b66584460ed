/*
 * The Unix socket (`server.unixSocket`): newline-delimited JSON-RPC, one session per connection.
 * Lines are generated and mutated messages (a mutation may split one into two lines, or add
 * bytes that are not UTF-8); some inputs get a connection of their own: a line over the size
 * limit, a line cut off by the client closing.
 */
import { connect } from 'node:net';
import { Rng } from '../lib/prng.mjs';
import {
  generateBatch,
  generateInitialize,
  generateMessage,
  materialize,
} from '../lib/generate.mjs';
import { Conversation, EDGE_FENCE, lineReader, plain } from '../lib/conversation.mjs';
import { runStreams } from '../lib/streams.mjs';
import { INITIALIZE } from '../lib/checks.mjs';

export function buildInput(seed, index, { maxBytes }, frontend = 'unix') {
  const rng = new Rng(`${seed}:${frontend}:${index}`);
  let n = 0;
  const ctx = { nextId: () => index * 16 + n++, maxBytes, huge: 0.05 };
  const kind = rng.weighted([
    [85, 'line'],
    [5, 'batch'],
    [0.3, 'initialize'],
    [3, 'bytes'],
    [2, 'two-lines'],
    [1, 'cut'],
  ]);
  const item =
    kind === 'batch'
      ? generateBatch(rng, ctx)
      : kind === 'initialize'
        ? generateInitialize(rng, ctx)
        : generateMessage(rng, ctx);
  const input = { frontend, kind, text: item.text.replace(/\n/g, ''), tags: item.tags, maxBytes };
  if (item.recipe) input.recipe = item.recipe;
  if (kind === 'bytes')
    input.hex = Buffer.from(
      [0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80].slice(0, rng.range(1, 7)),
    ).toString('hex');
  if (kind === 'two-lines')
    input.text = `${input.text}\n${generateMessage(rng, { ...ctx, huge: 0 }).text.replace(/\n/g, '')}`;
  if (kind === 'cut') input.single = true;
  return input;
}

/** The bytes of an input's line. */
export function lineOf(input) {
  const text = materialize(input);
  if (!input.hex) return text;
  const at = Math.floor(text.length / 2);
  return Buffer.concat([
    Buffer.from(text.slice(0, at)),
    Buffer.from(input.hex, 'hex'),
    Buffer.from(text.slice(at)),
  ]);
}

/**
 * The text as the gateway reads it: bytes that are not UTF-8 become U+FFFD, as Node decodes them
 * (they may have landed in an id or a member name, which the replies and the matchers must see).
 */
export function payloadOf(input) {
  if (!input.hex) return materialize(input);
  Object.defineProperty(input, 'decoded', {
    value: lineOf(input).toString('utf8'),
    configurable: true,
  });
  return input.decoded;
}

/** A line-based session over `duplex` (its readable and writable sides). */
export function lineSession(readable, writable, deadlineMs) {
  const conversation = new Conversation({
    deadlineMs,
    fence: EDGE_FENCE,
    sparse: true,
    send: (text) => {
      if (writable.destroyed || writable.writableEnded) throw new Error('the stream is closed');
      writable.write(
        typeof text === 'string' ? `${text}\n` : Buffer.concat([text, Buffer.from('\n')]),
      );
    },
  });
  readable.setEncoding('utf8');
  readable.on(
    'data',
    lineReader((line) => conversation.deliver(plain(line))),
  );
  return conversation;
}

export async function runBatch({ gw, seed, from, to, tally, options, inputs }) {
  const path = gw.unixSocket ?? gw.config.server.unixSocket;
  const open = async () => {
    const socket = connect(path);
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const conversation = lineSession(socket, socket, options.deadlineMs);
    socket.on('error', () => {});
    socket.on('close', () => conversation.close('the gateway closed the socket'));
    const { done } = await conversation.exchange(JSON.stringify({ ...INITIALIZE, id: 'init' }));
    await done;
    socket.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n');
    return {
      conversation,
      frame: (input) => ({ text: lineOf(input), payload: payloadOf(input) }),
      close: async () => {
        socket.end();
        await new Promise((r) => (socket.closed ? r() : socket.once('close', r)));
      },
    };
  };
  const single = async (input) => {
    // A line the client never finishes: the gateway must just end the session.
    const socket = connect(path);
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.on('error', () => {});
    socket.end(lineOf(input).slice(0, 50));
    await new Promise((r) => socket.once('close', r));
    return { cls: 'closed', violations: [] };
  };
  return runStreams({
    from,
    to,
    tally,
    inputs,
    connections: Math.max(1, Math.min(8, options.concurrency >> 3)),
    window: options.window,
    build: (i) => buildInput(seed, i, options),
    open,
    single,
  });
}
