import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { ClientCapabilities, Transport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { FIXTURES, waitFor } from './helpers.js';
import type { RunningServer } from './helpers.js';

/*
 * The 2026-07-28 side of the dual-era tests: the modern fixture server
 * (test/fixtures/modern-server.mjs, built on @modelcontextprotocol/server 2.4.0) and the v2 client
 * pinned to 2026-07-28.
 */

/** Path of the modern fixture server. */
export const MODERN_SERVER = join(FIXTURES, 'modern-server.mjs');

/** The modern fixture as a stdio backend of the gateway. */
export const modernStdio = {
  transport: 'stdio' as const,
  command: process.execPath,
  args: [MODERN_SERVER],
  killGraceMs: 500,
};

/** The modern fixture over Streamable HTTP on 127.0.0.1, port 0; `url` ends in /mcp. */
export async function startModernHttp(extra: string[] = []): Promise<RunningServer> {
  const child = spawn(process.execPath, [MODERN_SERVER, '--http', '0', ...extra], {
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error('the modern fixture exited before listening');
      return out.includes('\n');
    },
    10_000,
    'the modern fixture to listen',
  );
  return {
    url: `http://127.0.0.1:${Number(out.trim())}/mcp`,
    pid: child.pid!,
    close: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export const modernCapabilities: ClientCapabilities = {
  sampling: {},
  elicitation: { form: {} },
  roots: {},
};

/** What the answering handlers saw, in order. */
export interface ClientAnswers {
  sampling: unknown[];
  elicitation: unknown[];
  roots: number;
}

/**
 * A v2 client pinned to 2026-07-28 (no fallback). Its sampling, elicitation and roots handlers
 * (registered for the declared capabilities only) answer input_required rounds automatically: sampling says "sampled text", elicitation accepts
 * with `{answer: "answer-N"}` (N counting from 1), roots lists file:///fixture-root.
 * `era: 'legacy'` gives the same client without negotiation (a 2025 client).
 */
export async function connectModernClient(
  target: string | { command: string; args: string[] },
  options: { capabilities?: ClientCapabilities; era?: 'modern' | 'legacy' } = {},
): Promise<{ client: Client; answers: ClientAnswers }> {
  const client = new Client(
    { name: 'mcp-bridge-modern-test', version: '1.0.0' },
    {
      capabilities: options.capabilities ?? modernCapabilities,
      ...(options.era !== 'legacy' && { versionNegotiation: { mode: { pin: '2026-07-28' } } }),
    },
  );
  const answers: ClientAnswers = { sampling: [], elicitation: [], roots: 0 };
  const capabilities = options.capabilities ?? modernCapabilities;
  // The SDK refuses a handler for a capability the client does not declare.
  if (capabilities.sampling) {
    client.setRequestHandler('sampling/createMessage', async (request) => {
      answers.sampling.push(request.params);
      return {
        role: 'assistant',
        model: 'fixture-model',
        content: { type: 'text', text: 'sampled text' },
      };
    });
  }
  if (capabilities.elicitation) {
    client.setRequestHandler('elicitation/create', async (request) => {
      answers.elicitation.push(request.params);
      return { action: 'accept', content: { answer: `answer-${answers.elicitation.length}` } };
    });
  }
  if (capabilities.roots) {
    client.setRequestHandler('roots/list', async () => {
      answers.roots += 1;
      return { roots: [{ uri: 'file:///fixture-root', name: 'fixture root' }] };
    });
  }
  const transport: Transport =
    typeof target === 'string'
      ? new StreamableHTTPClientTransport(new URL(target))
      : new StdioClientTransport({ command: target.command, args: target.args, stderr: 'inherit' });
  await client.connect(transport);
  return { client, answers };
}

/** The text of the first content block of a tool result. */
export function firstText(result: { content?: unknown }): string {
  const content = result.content as Array<{ type: string; text?: string }> | undefined;
  const first = content?.[0];
  if (first?.type !== 'text' || first.text === undefined)
    throw new Error(`not a text result: ${JSON.stringify(result)}`);
  return first.text;
}
