import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { everythingStdio } from './helpers.js';
import { createGateway, parseConfig } from '../src/index.js';
import type { Gateway, GatewayConfigInput } from '../src/index.js';
import { createLogger } from '../src/core/logger.js';

const require = createRequire(import.meta.url);

/** server-memory over stdio, its graph in a fresh directory. */
export function memoryStdio() {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-bridge-rest-memory-'));
  return {
    backend: {
      transport: 'stdio' as const,
      command: process.execPath,
      args: [
        join(
          dirname(require.resolve('@modelcontextprotocol/server-memory/package.json')),
          'dist/index.js',
        ),
      ],
      env: { MEMORY_FILE_PATH: join(dir, 'memory.jsonl') },
      killGraceMs: 500,
    },
    dir,
  };
}

export interface RestGateway {
  gateway: Gateway;
  base: string;
  close(): Promise<void>;
}

/** A gateway with server-everything and server-memory on 127.0.0.1, port 0. */
export async function startRestGateway(
  extra: Partial<GatewayConfigInput> = {},
  memory = memoryStdio().backend,
): Promise<RestGateway> {
  const config = parseConfig({
    server: { host: '127.0.0.1', port: 0 },
    backends: { everything: everythingStdio, memory },
    ...extra,
  });
  const log = createLogger({ level: (process.env.MCP_BRIDGE_TEST_LOG as 'debug') ?? 'silent' });
  const gateway = createGateway(config, { log });
  const address = await gateway.listen();
  return {
    gateway,
    base: `http://127.0.0.1:${address.port}`,
    close: () => gateway.close(),
  };
}

export interface Answer {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

/** One JSON request; `key` goes in X-API-Key. */
export async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  key?: string,
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (key) headers['x-api-key'] = key;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, headers: res.headers, json };
}

export interface SseEvent {
  id?: string;
  event: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  data: any;
}

/** An open `/events` stream, its events collected as they come. */
export interface EventReader {
  readonly status: number;
  readonly events: SseEvent[];
  /** Resolves with the first event (from the start) that `match` accepts; rejects after `ms`. */
  next(match: (e: SseEvent) => boolean, ms?: number): Promise<SseEvent>;
  close(): void;
}

export async function openEvents(
  base: string,
  path: string,
  key?: string,
  lastEventId?: string,
): Promise<EventReader> {
  const controller = new AbortController();
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (key) headers['x-api-key'] = key;
  if (lastEventId) headers['last-event-id'] = lastEventId;
  const res = await fetch(`${base}${path}`, { headers, signal: controller.signal });
  const events: SseEvent[] = [];
  const waiters = new Set<() => void>();
  if (res.ok && res.body) {
    void (async () => {
      const decoder = new TextDecoder();
      let buffer = '';
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(chunk, { stream: true });
          let end: number;
          while ((end = buffer.indexOf('\n\n')) !== -1) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const e: SseEvent = { event: 'message', data: undefined };
            for (const line of block.split('\n')) {
              const colon = line.indexOf(':');
              const field = line.slice(0, colon);
              const value = line.slice(colon + 1).trimStart();
              if (field === 'id') e.id = value;
              else if (field === 'event') e.event = value;
              else if (field === 'data') e.data = JSON.parse(value);
            }
            events.push(e);
            for (const w of waiters) w();
          }
        }
      } catch {
        // aborted
      }
    })();
  }
  return {
    status: res.status,
    events,
    next(match, ms = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.find(match);
          if (!found) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching event in ${ms} ms; got ${JSON.stringify(events)}`));
        }, ms);
        if (!check()) waiters.add(check);
      });
    },
    close: () => controller.abort(),
  };
}
