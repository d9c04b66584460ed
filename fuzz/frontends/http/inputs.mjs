/*
 * Streamable HTTP inputs: what `buildInput(seed, index)` makes, from the seeded generator. A
 * description the harness can send again (replay): method, path, headers (with `$S`, `$OTHER`,
 * `$PORT`, `$SELF`, `$FRESH` filled in at send time), body text or recipe, and for a raw request
 * the head as written, with its exemption marked (see ../http.mjs).
 */
import { Rng } from '../../lib/prng.mjs';
import { generateBatch, generateInitialize, generateMessage } from '../../lib/generate.mjs';
import { INITIALIZE } from '../../lib/checks.mjs';

export const ENDPOINTS = [
  [60, '/servers/echo/mcp'],
  [25, '/mcp'],
  [15, '/servers/everything/mcp'],
];
export const ACCEPT = 'application/json, text/event-stream';
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
