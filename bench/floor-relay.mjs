#!/usr/bin/env node
/*
 * The floor: the least an HTTP → stdio relay written in Node can cost on this machine. One echo
 * process per session, request ids renumbered on the way in and restored on the way out, and
 * every reply sent as one Content-Length JSON response. Nothing else: no validation, no
 * policies, no security headers, no SSE, no limits. Not a gateway; a yardstick that shows how
 * much of mcp-bridge's cost is Node's HTTP server, the pipes and the process wakeups, which any
 * Node gateway pays, and how much is its own.
 *
 *   node bench/floor-relay.mjs <command> [args…]   prints "floor listening <port>"
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';

const [command, ...args] = process.argv.slice(2);
const sessions = new Map();
let lastId = 0;

function openSession() {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const session = { child, pending: new Map() };
  let held = [];
  child.stdout.on('data', (chunk) => {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      let line = chunk.subarray(start, nl);
      if (held.length > 0) line = Buffer.concat([...held, line]);
      held = [];
      start = nl + 1;
      const message = JSON.parse(line.toString());
      const waiting = session.pending.get(message.id);
      if (!waiting) continue;
      session.pending.delete(message.id);
      message.id = waiting.id;
      const body = Buffer.from(JSON.stringify(message));
      const headers = { 'content-type': 'application/json', 'content-length': body.length };
      if (waiting.sessionId) headers['mcp-session-id'] = waiting.sessionId;
      waiting.res.writeHead(200, headers).end(body);
    }
    if (start < chunk.length) held.push(chunk.subarray(start));
  });
  child.stdin.on('error', () => {});
  return session;
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    if (req.method === 'DELETE') {
      const session = sessions.get(req.headers['mcp-session-id']);
      session?.child.kill();
      sessions.delete(req.headers['mcp-session-id']);
      return res.writeHead(session ? 200 : 404).end();
    }
    const message = JSON.parse(Buffer.concat(chunks).toString());
    let sessionId = req.headers['mcp-session-id'];
    let created;
    if (message.method === 'initialize') {
      sessionId = randomUUID();
      sessions.set(sessionId, openSession());
      created = sessionId;
    }
    const session = sessions.get(sessionId);
    if (!session) return res.writeHead(404).end();
    if (message.id === undefined) {
      session.child.stdin.write(`${JSON.stringify(message)}\n`);
      return res.writeHead(202).end();
    }
    const id = ++lastId;
    session.pending.set(id, { id: message.id, res, sessionId: created });
    message.id = id;
    session.child.stdin.write(`${JSON.stringify(message)}\n`);
  });
});
server.listen(0, '127.0.0.1', () => console.log(`floor listening ${server.address().port}`));
for (const signal of ['SIGINT', 'SIGTERM'])
  process.on(signal, () => {
    for (const { child } of sessions.values()) child.kill();
    process.exit(0);
  });
