/*
 * A load-generation client of the gateway's REST API (docs/rest-api.md), shaped like the MCP
 * clients of ./clients.mjs (`open`, `call('tools/call', …)`) so that the same scenarios and
 * checks run over it. `oneShot`: every call is `POST /api/v1/servers/{backend}/tools/{tool}`
 * with the arguments as the body; otherwise one REST session (`POST /sessions`) and
 * `POST /tools/call` on it.
 */
import { BenchError } from './clients.mjs';

export class RestSession {
  /** @param {{ port: number, pool: import('./http1.mjs').ConnectionPool, oneShot: boolean }} options */
  constructor({ port, pool, oneShot }) {
    this.port = port;
    this.pool = pool;
    this.oneShot = oneShot;
    this.backend = undefined;
    this.sessionId = undefined;
  }

  async send(method, path, body) {
    const head =
      `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${this.port}\r\n` +
      (body === undefined ? '' : 'Content-Type: application/json\r\n');
    let reply;
    try {
      reply = await this.pool.request(head, body === undefined ? undefined : JSON.stringify(body));
    } catch (error) {
      throw new BenchError('transport', error.message);
    }
    const text = reply.body.toString();
    if (reply.status !== 200 && reply.status !== 201)
      throw new BenchError('http', `HTTP ${reply.status}: ${text.slice(0, 200)}`);
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new BenchError('http', `unreadable body: ${error.message}`);
    }
  }

  async open() {
    const { services } = await this.send('GET', '/api/v1/services');
    this.backend = services[0]?.name;
    if (!this.backend) throw new BenchError('http', 'the gateway lists no backend');
    if (!this.oneShot) {
      const created = await this.send('POST', '/sessions', { server: this.backend });
      this.sessionId = created.session_id;
    }
    return this;
  }

  /** Only `tools/call`: what the scenarios send. */
  async call(method, params) {
    if (method !== 'tools/call') throw new BenchError('rpc', `REST bench client: no ${method}`);
    const reply = this.oneShot
      ? await this.send(
          'POST',
          `/api/v1/servers/${encodeURIComponent(this.backend)}/tools/${encodeURIComponent(params.name)}`,
          params.arguments ?? {},
        )
      : await this.send('POST', '/tools/call', {
          session_id: this.sessionId,
          tool: params.name,
          params: params.arguments ?? {},
        });
    if (typeof reply.result !== 'object' || reply.result === null)
      throw new BenchError('result', 'reply without a result object');
    return reply.result;
  }

  async close() {}
}
