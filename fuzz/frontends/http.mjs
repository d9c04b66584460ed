/*
 * Streamable HTTP: POST bodies (generated and mutated JSON-RPC, batches, huge, deep, compressed)
 * and headers (Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version, Origin, Host,
 * Content-Encoding, Content-Length lies), GET/DELETE/other methods, and raw heads. Requests go
 * to a pool of live sessions on three endpoints, reused for the whole batch.
 *
 * Exemptions from "a response, never a reset" (each marked on the input):
 *   - `malformed`: a raw head Node's HTTP parser refuses (no version, a bad header line, a NUL,
 *     CL with TE, …): Node's own bare 400 or a close is the right answer.
 *   - `lengthLie: 'long'`: a Content-Length larger than the bytes sent: the server waiting for the
 *     rest is right; the harness closes after its deadline and counts it `closed`.
 *   - `lengthLie: 'short'`: the bytes after Content-Length are a malformed second request, which
 *     Node answers with a bare 400 and a close that may cut the first response off.
 *   - `chunked: 'no-end'`: a chunked body that never ends: waiting is right, as for 'long'.
 *
 * The input generator is in http/inputs.mjs, sending (the session pool, placeholders, raw
 * requests) in http/deliver.mjs, the verdict in http/judge.mjs.
 */
import { Agent } from 'node:http';
import { parseResponse } from '../lib/http-client.mjs';
import { buildInput } from './http/inputs.mjs';
import { Sessions, deliver } from './http/deliver.mjs';
import { judge } from './http/judge.mjs';

export { buildInput, judge, parseResponse };

export async function runBatch({ gw, seed, from, to, tally, options, inputs }) {
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });
  const sessions = new Sessions(gw.port, agent);
  let unansweredInitializes = 0;
  try {
    await sessions.open(['/servers/echo/mcp', '/mcp', '/servers/everything/mcp'], 2);
    const env = { port: gw.port, agent, sessions, deadlineMs: options.deadlineMs };
    let next = from;
    const worker = async () => {
      for (;;) {
        const index = next++;
        if (index >= to) return;
        const input = inputs ? inputs[index - from] : buildInput(seed, index, options);
        const t0 = Date.now();
        const outcome = await deliver(input, { ...env, index });
        const took = Date.now() - t0;
        const created = outcome.res.headers?.['mcp-session-id'];
        if (input.kind === 'initialize') {
          if (created) sessions.created.add(`${input.path} ${created}`);
          if (outcome.res.error || (outcome.res.status ?? 500) >= 300) unansweredInitializes++;
        }
        const { cls, violations } = judge(input, outcome, gw.port);
        if (process.env.FUZZ_TRACE)
          process.stderr.write(
            `#${index} ${took}ms ${input.kind}:${input.tags ?? ''} ${input.method} ${input.path} → ${outcome.res.status ?? outcome.res.error} ${String(outcome.res.body ?? '').slice(0, 160)}\n`,
          );
        tally.record(index, input, cls, violations);
        // An input that ended a pool session (DELETE, a session-ending error) gets it replaced.
        if (
          outcome.res.status === 404 &&
          outcome.headers?.['mcp-session-id'] === outcome.session &&
          outcome.res.body?.includes?.('GATEWAY_SESSION_NOT_FOUND')
        )
          await sessions.replace(input.path, outcome.session);
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, worker));
  } finally {
    await sessions.close();
    agent.destroy();
  }
  return { unansweredInitializes };
}
