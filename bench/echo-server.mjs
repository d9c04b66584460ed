#!/usr/bin/env node
/*
 * A stdio MCP server written for speed, so that the backend is never what a benchmark measures.
 * It speaks real MCP (initialize, notifications/initialized, ping, tools/list, tools/call) as
 * newline-delimited JSON-RPC on stdin/stdout, with no SDK: each line is parsed once and each
 * reply is written with the others of the same input chunk, in one write.
 *
 * Tools:
 *   echo  { text: string } → a text content block holding `text`
 *   bytes { n: number }    → a text content block of `n` bytes ("x" repeated)
 */

const SUPPORTED_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'];
const MAX_BYTES = 64 * 1024 * 1024;

const TOOLS = {
  tools: [
    {
      name: 'echo',
      description: 'Returns its text argument.',
      inputSchema: {
        type: 'object',
        properties: { text: { type: 'string' } },
        required: ['text'],
      },
    },
    {
      name: 'bytes',
      description: 'Returns a text of n bytes.',
      inputSchema: {
        type: 'object',
        properties: { n: { type: 'integer', minimum: 0 } },
        required: ['n'],
      },
    },
  ],
};

/** `bytes` results by size, already serialized: a 1 MiB reply costs one string concatenation. */
const bytesResults = new Map();

function bytesResult(n) {
  let json = bytesResults.get(n);
  if (json === undefined) {
    json = JSON.stringify({ content: [{ type: 'text', text: 'x'.repeat(n) }] });
    if (bytesResults.size > 16) bytesResults.clear();
    bytesResults.set(n, json);
  }
  return json;
}

const resultLine = (id, resultJson) =>
  `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":${resultJson}}\n`;

const errorLine = (id, code, message) =>
  `${JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } })}\n`;

/** The reply line for one request, or '' for a notification. */
function answer(message) {
  if (typeof message !== 'object' || message === null) return '';
  const { id, method, params } = message;
  if (id === undefined || id === null) return ''; // notifications (initialized, cancelled, …)
  if (typeof method !== 'string') return ''; // a reply to a request we never send
  switch (method) {
    case 'initialize': {
      const asked = params?.protocolVersion;
      return resultLine(
        id,
        JSON.stringify({
          protocolVersion: SUPPORTED_VERSIONS.includes(asked) ? asked : SUPPORTED_VERSIONS[0],
          capabilities: { tools: {} },
          serverInfo: { name: 'bench-echo', version: '1.0.0' },
        }),
      );
    }
    case 'ping':
      return resultLine(id, '{}');
    case 'tools/list':
      return resultLine(id, JSON.stringify(TOOLS));
    case 'tools/call': {
      const name = params?.name;
      const args = params?.arguments ?? {};
      if (name === 'echo') {
        if (typeof args.text !== 'string')
          return errorLine(id, -32602, 'echo: "text" must be a string');
        return resultLine(id, JSON.stringify({ content: [{ type: 'text', text: args.text }] }));
      }
      if (name === 'bytes') {
        const n = args.n;
        if (!Number.isInteger(n) || n < 0 || n > MAX_BYTES)
          return errorLine(id, -32602, `bytes: "n" must be an integer from 0 to ${MAX_BYTES}`);
        return resultLine(id, bytesResult(n));
      }
      return errorLine(id, -32602, `unknown tool: ${String(name)}`);
    }
    default:
      return errorLine(id, -32601, `method not found: ${method}`);
  }
}

function handleLine(line) {
  if (line.length === 0) return '';
  let message;
  try {
    message = JSON.parse(line);
  } catch {
    return errorLine(null, -32700, 'parse error');
  }
  if (Array.isArray(message)) return message.map(answer).join('');
  return answer(message);
}

let pending = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  let out = '';
  let start = 0;
  let data = chunk;
  if (pending.length > 0) {
    data = pending + chunk;
    pending = '';
  }
  for (;;) {
    const newline = data.indexOf('\n', start);
    if (newline === -1) break;
    let end = newline;
    if (end > start && data.charCodeAt(end - 1) === 13) end--;
    out += handleLine(data.slice(start, end));
    start = newline + 1;
  }
  if (start < data.length) pending = data.slice(start);
  if (out.length > 0) process.stdout.write(out);
});
process.stdin.on('end', () => process.exit(0));
// The pipe to our client closed: nobody is left to answer.
process.stdout.on('error', () => process.exit(0));
