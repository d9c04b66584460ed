import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EVERYTHING, initializeRequest, startGateway } from '../helpers.js';
import type { RunningGateway } from '../helpers.js';
import { CLI, line, runCli, stopCli } from '../frontend-helpers.js';
import type { CliRun } from '../frontend-helpers.js';
import { RawClient, wsUrl } from '../websocket-helpers.js';
import { connectModernClient, firstText } from '../modern-helpers.js';
import { modernBody } from '../era-helpers.js';

/*
 * Both eras on connection transports, where one connection may carry either or both: each
 * message is classified on its own, modern ones go through the modern path, legacy ones to the
 * connection's session as before. The backend is server-everything (a legacy server).
 */

const DEMO = `${process.execPath} ${EVERYTHING} stdio`;
const ALL = { sampling: {}, elicitation: { form: {} }, roots: {} };

describe('--serve stdio with a 2026-07-28 client', () => {
  it('the v2 client pinned to 2026-07-28 lists, calls, and answers a sampling round', async () => {
    const { client, answers } = await connectModernClient({
      command: process.execPath,
      args: [CLI, '--serve', 'stdio', '--log-level', 'warn', '--stdio', DEMO],
    });
    try {
      expect(client.getNegotiatedProtocolVersion()).toBe('2026-07-28');
      expect(firstText(await client.callTool({ name: 'echo', arguments: { message: 'm' } }))).toBe(
        'Echo: m',
      );
      const sampled = await client.callTool({
        name: 'trigger-sampling-request',
        arguments: { prompt: 'hi', maxTokens: 5 },
      });
      expect(answers.sampling).toHaveLength(1);
      expect(firstText(sampled)).toContain('sampled text');
    } finally {
      await client.close();
    }
  });
});

describe('--serve stdio: both eras on one connection, raw lines', () => {
  let cli: CliRun | undefined;
  afterEach(async () => {
    if (cli) await stopCli(cli);
    cli = undefined;
  });

  it('a modern request before any initialize is served the modern way, never as a bare legacy request', async () => {
    cli = runCli(['--serve', 'stdio', '--stdio', DEMO]);
    const { child, stdout } = cli;
    const modern = modernBody('tools/list');
    child.stdin!.write(line(modern));
    const reply = await stdout.reply(modern.id as number);
    expect(reply.result).toMatchObject({ resultType: 'complete', ttlMs: 0, cacheScope: 'private' });
    child.stdin!.end();
    expect(await cli.exited).toBe(0);
  });

  it('legacy and modern requests interleave on one stdio connection, each answered in its own era', async () => {
    cli = runCli(['--serve', 'stdio', '--stdio', DEMO]);
    const { child, stdout } = cli;
    child.stdin!.write(line(initializeRequest({ id: 1, protocolVersion: '2025-11-25' })));
    expect((await stdout.reply(1)).result).toMatchObject({ protocolVersion: '2025-11-25' });
    child.stdin!.write(line({ jsonrpc: '2.0', method: 'notifications/initialized' }));
    const modern = modernBody('tools/call', { name: 'echo', arguments: { message: 'new' } });
    child.stdin!.write(line({ jsonrpc: '2.0', id: 2, method: 'tools/list' }));
    child.stdin!.write(line(modern));
    child.stdin!.write(
      line({
        jsonrpc: '2.0',
        id: 3,
        method: 'tools/call',
        params: { name: 'echo', arguments: { message: 'old' } },
      }),
    );
    const legacyList = await stdout.reply(2);
    expect(legacyList.result).not.toHaveProperty('resultType');
    const old = await stdout.reply(3);
    expect(JSON.stringify(old.result)).toContain('Echo: old');
    expect(old.result).not.toHaveProperty('resultType');
    const fresh = await stdout.reply(modern.id as number);
    expect(fresh.result).toMatchObject({ resultType: 'complete' });
    expect(JSON.stringify(fresh.result)).toContain('Echo: new');
    child.stdin!.end();
    expect(await cli.exited).toBe(0);
    expect(stdout.junk).toEqual([]);
  });

  it('notifications/cancelled naming a modern request ends it with no reply', async () => {
    cli = runCli(['--serve', 'stdio', '--stdio', DEMO]);
    const { child, stdout } = cli;
    const slow = modernBody('tools/call', {
      name: 'trigger-long-running-operation',
      arguments: { duration: 3, steps: 3 },
    });
    child.stdin!.write(line(slow));
    await new Promise((r) => setTimeout(r, 400));
    child.stdin!.write(
      line({
        jsonrpc: '2.0',
        method: 'notifications/cancelled',
        params: { requestId: slow.id, reason: 'test' },
      }),
    );
    const after = modernBody('tools/call', { name: 'echo', arguments: { message: 'next' } });
    child.stdin!.write(line(after));
    expect((await stdout.reply(after.id as number)).result).toMatchObject({
      resultType: 'complete',
    });
    await new Promise((r) => setTimeout(r, 3200));
    expect(stdout.messages.some((m) => m.id === slow.id)).toBe(false);
    child.stdin!.end();
    expect(await cli.exited).toBe(0);
  });
});

describe('WebSocket: a modern request and an input_required round on /ws', () => {
  let gw: RunningGateway;
  beforeAll(async () => {
    gw = await startGateway();
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('answers a modern tools/call with resultType, and a sampling tool with input_required', async () => {
    const ws = await RawClient.open(wsUrl(gw.url));
    try {
      const echo = modernBody('tools/call', { name: 'echo', arguments: { message: 'ws' } });
      ws.send(echo);
      const reply = await ws.next((f) => f.id === echo.id);
      expect(reply.result).toMatchObject({ resultType: 'complete' });
      const ask = modernBody(
        'tools/call',
        { name: 'trigger-sampling-request', arguments: { prompt: 'x', maxTokens: 5 } },
        { capabilities: ALL },
      );
      ws.send(ask);
      const round = await ws.next((f) => f.id === ask.id);
      expect(round.result).toMatchObject({
        resultType: 'input_required',
        inputRequests: { 'sampling-1': { method: 'sampling/createMessage' } },
      });
      const retry = modernBody(
        'tools/call',
        {
          name: 'trigger-sampling-request',
          arguments: { prompt: 'x', maxTokens: 5 },
          requestState: round.result.requestState,
          inputResponses: {
            'sampling-1': {
              role: 'assistant',
              model: 'm',
              content: { type: 'text', text: 'over the socket' },
            },
          },
        },
        { capabilities: ALL },
      );
      ws.send(retry);
      const final = await ws.next((f) => f.id === retry.id);
      expect(JSON.stringify(final.result)).toContain('over the socket');
    } finally {
      await ws.close();
    }
  });
});
