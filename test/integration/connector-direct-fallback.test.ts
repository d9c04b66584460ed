import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { FIXTURES, everythingStdio, isAlive, startGateway } from '../helpers.js';
import type { RunningGateway } from '../helpers.js';

/*
 * Direct mode (the connector runs a local stdio server itself, and restarts it, restoring the
 * session, when it dies) and fallback between remotes listed in order (the first that answers
 * is used; when the one in use breaks, the list is tried again from the first).
 */

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const PROBE = `${FIXTURES}probe-server.mjs`;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'connector-direct-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function desktop(args: string[]): Promise<Client> {
  const client = new Client({ name: 'desktop', version: '1' });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'connect', ...args, '--log-level', 'silent'],
      env: { PATH: process.env.PATH ?? '' },
      stderr: 'ignore',
    }),
  );
  return client;
}

function text(result: Awaited<ReturnType<Client['callTool']>>): string {
  return (result.content as Array<{ text: string }>)[0]!.text;
}

/** A port nothing listens on (bound, then let go). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('direct mode', () => {
  it('runs the server itself and restarts it, session restored, when it dies', async () => {
    const client = await desktop([
      '--direct',
      `${JSON.stringify(process.execPath)} ${JSON.stringify(PROBE)}`,
      '--backoff-max-ms',
      '200',
      '--status-file',
      join(dir, 'direct.json'),
    ]);
    try {
      expect((await client.listTools()).tools.map((t) => t.name)).toContain('pid');
      const first = Number(text(await client.callTool({ name: 'pid' })));
      expect(isAlive(first)).toBe(true);
      const status = JSON.parse(readFileSync(join(dir, 'direct.json'), 'utf8')) as {
        remote: string;
      };
      expect(status.remote).toBe(`stdio:${process.execPath} ${PROBE}`);
      const inFlight = client.callTool({ name: 'wait', arguments: { ms: 60_000 } });
      await new Promise((resolve) => setTimeout(resolve, 200));
      process.kill(first, 'SIGKILL');
      await expect(inFlight).rejects.toThrow(/-32022|was lost while tools\/call was in flight/);
      const second = Number(text(await client.callTool({ name: 'pid' })));
      expect(second).not.toBe(first);
      expect(isAlive(second)).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('refuses --direct with a URL, and a shell operator, before starting', async () => {
    await expect(desktop(['http://x/mcp', '--direct', 'node x.js'])).rejects.toThrow();
    await expect(desktop(['--direct', 'node x.js | tee log'])).rejects.toThrow();
  });
});

describe('fallback between remotes', () => {
  let backup: RunningGateway;
  let primary: RunningGateway | undefined;
  beforeAll(async () => {
    backup = await startGateway(everythingStdio);
  });
  afterAll(async () => {
    await backup?.close();
    await primary?.close();
  });

  it('uses the first that answers, and goes back to the first once the one in use breaks', async () => {
    const port = await freePort();
    const statusFile = join(dir, 'fallback.json');
    const client = await desktop([
      `http://127.0.0.1:${port}/mcp`,
      '--fallback',
      backup.url.toString(),
      '--backoff-max-ms',
      '200',
      '--status-file',
      statusFile,
    ]);
    const remoteNow = () =>
      (JSON.parse(readFileSync(statusFile, 'utf8')) as { remote: string }).remote;
    try {
      // The primary is down: the backup (server-everything, with its echo tool) answers.
      expect((await client.listTools()).tools.map((t) => t.name)).toContain('echo');
      expect(remoteNow()).toBe(backup.url.toString());
      primary = await startGateway(
        { transport: 'stdio', command: process.execPath, args: [PROBE], killGraceMs: 500 },
        { server: { host: '127.0.0.1', port } },
      );
      await backup.close();
      // The backup is gone; the list starts over from the primary (the probe server, with pid).
      expect((await client.listTools()).tools.map((t) => t.name)).toContain('pid');
      expect(remoteNow()).toBe(`http://127.0.0.1:${port}/mcp`);
    } finally {
      await client.close();
    }
  });
});
