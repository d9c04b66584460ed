/*
 * A minimal MCP client over Streamable HTTP for the playground: initialize, requests and
 * notifications, DELETE at the end. A reply comes as JSON or as an SSE stream that ends after it;
 * both are read whole. Everything else a server sends on the way (progress, logs) is ignored.
 */

const PROTOCOL_VERSION = '2025-06-18';

export class McpHttpClient {
  /** @param {string} url the endpoint, e.g. /gateway/servers/everything/mcp */
  constructor(url) {
    this.url = url;
    this.sessionId = undefined;
    this.protocolVersion = undefined;
    this.nextId = 1;
  }

  headers() {
    const headers = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    };
    if (this.sessionId) headers['mcp-session-id'] = this.sessionId;
    if (this.protocolVersion) headers['mcp-protocol-version'] = this.protocolVersion;
    return headers;
  }

  async connect() {
    const result = await this.request('initialize', {
      protocolVersion: PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: { name: 'mcp-bridge-dashboard', version: '1' },
    });
    this.protocolVersion = result.protocolVersion;
    await this.notify('notifications/initialized');
    return result;
  }

  async request(method, params) {
    const id = this.nextId++;
    const res = await fetch(this.url, {
      method: 'POST',
      headers: this.headers(),
      body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
    });
    if (method === 'initialize') this.sessionId = res.headers.get('mcp-session-id') ?? undefined;
    const reply = await readReply(res, id);
    if (reply.error) {
      const error = new Error(reply.error.message);
      error.reply = reply.error;
      throw error;
    }
    return reply.result;
  }

  async notify(method, params) {
    const res = await fetch(this.url, {
      method: 'POST',
      headers: this.headers(),
      body: JSON.stringify({ jsonrpc: '2.0', method, params }),
    });
    if (!res.ok) throw new Error(`${method}: HTTP ${res.status}`);
  }

  async close() {
    if (!this.sessionId) return;
    const headers = this.headers();
    this.sessionId = undefined;
    await fetch(this.url, { method: 'DELETE', headers }).catch(() => {});
  }
}

/** The reply to request `id` in a response: a JSON body (or batch), or an SSE stream. */
async function readReply(res, id) {
  const type = res.headers.get('content-type') ?? '';
  if (type.includes('text/event-stream')) {
    const text = await res.text();
    for (const event of text.split(/\r?\n\r?\n/)) {
      const data = event
        .split(/\r?\n/)
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trimStart())
        .join('\n');
      if (!data) continue;
      const message = JSON.parse(data);
      if (message.id === id && !('method' in message)) return message;
    }
    throw new Error(`the stream ended without a reply to request ${id}`);
  }
  if (!type.includes('json')) throw new Error(`HTTP ${res.status} ${res.statusText}`);
  const body = await res.json();
  const reply = Array.isArray(body) ? body.find((m) => m.id === id) : body;
  if (!reply) throw new Error(`HTTP ${res.status}: no reply to request ${id}`);
  return reply;
}
