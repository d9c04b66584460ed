import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { FIXTURES, connectClient, startGateway, waitFor } from '../helpers.js';
import type { RunningServer } from '../helpers.js';

/*
 * Regression: in front of a Streamable HTTP backend, the gateway sent the client's first request
 * before its own GET stream to the backend was open, so a server→client request the backend
 * sent on that stream (the v1 SDK's server.createMessage / elicitInput, unrelated to any POST)
 * was lost and the call hung (conformance tools-call-sampling, elicitation-sep1034-defaults and
 * elicitation-sep1330-enums through --url). The backend here holds each GET for a while before
 * serving it, which makes the race certain instead of occasional.
 */

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

/** The legacy conformance fixture over HTTP, its GET stream served only after `getDelayMs`. */
async function startLegacyHttp(getDelayMs: number): Promise<RunningServer> {
  const child = spawn(
    process.execPath,
    [
      join(FIXTURES, 'conformance-legacy-server.mjs'),
      '--http',
      '0',
      '--get-delay',
      String(getDelayMs),
    ],
    { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  await waitFor(() => out.includes('\n'), 10_000, 'the legacy conformance fixture to listen');
  return {
    url: `http://127.0.0.1:${Number(out.trim())}/mcp`,
    pid: child.pid!,
    close: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

const text = (result: unknown): string =>
  ((result as { content: Array<{ text: string }> }).content[0]?.text ?? '') as string;

describe('a Streamable HTTP backend that asks on its GET stream', () => {
  it.each(['streamable-http', 'auto'] as const)(
    'the first call after initialize gets its sampling and elicitation through (%s)',
    async (transport) => {
      const backend = await startLegacyHttp(300);
      cleanup.push(() => backend.close());
      const gateway = await startGateway({ url: backend.url, transport });
      cleanup.push(() => gateway.close());
      let sampled = 0;
      const client = await connectClient(gateway.url, undefined, (c) => {
        c.setRequestHandler(CreateMessageRequestSchema, async () => {
          sampled += 1;
          return {
            role: 'assistant',
            model: 'test',
            content: { type: 'text', text: 'from the model' },
          };
        });
        c.setRequestHandler(ElicitRequestSchema, async () => ({
          action: 'accept',
          content: { name: 'Ada' },
        }));
      });
      cleanup.push(() => client.close());

      // Right after connect: the gateway's GET to the backend is still being held.
      const result = await client.callTool(
        { name: 'test_sampling', arguments: { prompt: 'hi' } },
        undefined,
        { timeout: 8_000 },
      );
      expect(text(result)).toBe('LLM response: from the model');
      expect(sampled).toBe(1);
      const elicited = await client.callTool(
        { name: 'test_elicitation_sep1034_defaults', arguments: {} },
        undefined,
        { timeout: 8_000 },
      );
      expect(text(elicited)).toBe('Elicitation completed: action=accept, content={"name":"Ada"}');
    },
  );

  it('a backend whose GET never answers holds the first request for a bounded time only', async () => {
    const backend = await startLegacyHttp(60_000);
    cleanup.push(() => backend.close());
    const gateway = await startGateway({ url: backend.url, transport: 'streamable-http' });
    cleanup.push(() => gateway.close());
    const client = await connectClient(gateway.url);
    cleanup.push(() => client.close());
    // No server→client request involved: the call must complete although the GET never opens.
    const result = await client.callTool({ name: 'test_simple_text', arguments: {} }, undefined, {
      timeout: 8_000,
    });
    expect(text(result)).toBe('This is a simple text response for testing.');
  });
});
