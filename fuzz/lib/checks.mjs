/*
 * The checks after every batch: the gateway is alive, a normal client still gets served (a fresh
 * initialize and tools/list over Streamable HTTP), its backend processes and fds are back to
 * what they were before the batch (polled, since ending a process takes its grace period), and
 * its log did not grow by a line per input.
 */
import { readFileSync } from 'node:fs';
import { descendants, fdCount } from './gateway.mjs';

const HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
};

export const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: {
    protocolVersion: '2025-11-25',
    capabilities: {},
    clientInfo: { name: 'fuzz-probe', version: '1' },
  },
};

async function post(url, body, session, signal) {
  return fetch(url, {
    method: 'POST',
    headers: session ? { ...HEADERS, 'mcp-session-id': session } : HEADERS,
    body: JSON.stringify(body),
    signal,
  });
}

/** A normal client's session on `path`: initialize, initialized, tools/list, DELETE. */
export async function normalCall(base, path = '/mcp', expectTool = 'echo__echo') {
  const signal = AbortSignal.timeout(20_000);
  const url = base + path;
  try {
    const init = await post(url, INITIALIZE, undefined, signal);
    const session = init.headers.get('mcp-session-id');
    const initBody = await init.text();
    if (init.status !== 200 || !session)
      return `initialize: ${init.status} ${initBody.slice(0, 300)}`;
    try {
      await (
        await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, session, signal)
      ).text();
      const list = await post(
        url,
        { jsonrpc: '2.0', id: 2, method: 'tools/list' },
        session,
        signal,
      );
      const text = await list.text();
      // The reply may come as JSON or on an SSE stream, after notifications (list_changed).
      let tools = [];
      for (const data of [text, ...[...text.matchAll(/^data: (.+)$/gm)].map((m) => m[1])]) {
        try {
          const reply = JSON.parse(data);
          if (reply.id === 2) tools = reply.result?.tools?.map((t) => t.name) ?? [];
        } catch {
          // not this one
        }
      }
      if (list.status !== 200 || !tools.includes(expectTool))
        return `tools/list: ${list.status} ${text.slice(0, 300)}`;
    } finally {
      await fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': session }, signal }).then(
        (r) => r.text(),
        () => '',
      );
    }
    return undefined;
  } catch (error) {
    return `normal call failed: ${error.message}`;
  }
}

/** The gateway's descendants, as `pid age-in-seconds command`, for a leak report. */
function describe(pid) {
  return descendants(pid)
    .map((p) => {
      try {
        const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8')
          .split('\0')
          .filter(Boolean)
          .map((a) => a.split('/').pop())
          .join(' ');
        return `${p} ${cmd.slice(0, 60)}`;
      } catch {
        return `${p} (gone)`;
      }
    })
    .join('; ');
}

/** Backend processes and fds of the gateway right now. */
export function resources(pid) {
  return { processes: descendants(pid).length, fds: fdCount(pid) };
}

/**
 * Waits up to `ms` for the gateway's processes and fds to come back within `allowance` of
 * `baseline`; returns the violations if they do not.
 */
export async function settle(pid, baseline, { processes = 0, fds = 24 } = {}, ms = 10_000) {
  const deadline = Date.now() + ms;
  let now = resources(pid);
  while (Date.now() < deadline) {
    now = resources(pid);
    if (now.processes <= baseline.processes + processes && now.fds <= baseline.fds + fds) return [];
    await new Promise((r) => setTimeout(r, 100));
  }
  const out = [];
  if (now.processes > baseline.processes + processes)
    out.push({
      kind: 'leak-processes',
      excess: now.processes - baseline.processes - processes,
      detail: `${now.processes} backend processes after the batch, ${baseline.processes} before (+${processes} allowed): ${describe(pid)}`,
    });
  if (now.fds > baseline.fds + fds)
    out.push({
      kind: 'leak-fds',
      excess: now.fds - baseline.fds - fds,
      detail: `${now.fds} fds after the batch, ${baseline.fds} before (+${fds} allowed)`,
    });
  return out;
}

/** At most this many warning lines per batch of `inputs`: a summary, not a line per input. */
export const logBound = (inputs) => 20 + Math.ceil(inputs / 50);
