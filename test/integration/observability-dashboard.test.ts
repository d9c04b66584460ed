import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium } from 'playwright-core';
import type { BrowserContext, Page } from 'playwright-core';
import { EmptyResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { connectClient, everythingStdio } from '../helpers.js';
import { startObservedGateway } from '../observability-helpers.js';
import type { ObservedGateway } from '../observability-helpers.js';
import { CHROMIUM, CHROMIUM_FLAGS, sayWhenSkipped } from '../browser-helpers.js';

/*
 * The dashboard as a person uses it, in headless Chromium on a phone-sized screen: it shows the
 * demo backends, and its playground calls a tool whose result comes back from server-everything;
 * the test client talks to the gateway over WebSocket and SSE. Screenshots are kept in
 * test-artifacts/ (git-ignored).
 */

const require = createRequire(import.meta.url);
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
sayWhenSkipped('observability-dashboard');
const FLAGS = CHROMIUM_FLAGS;

describe.skipIf(!CHROMIUM)('the dashboard in Chromium', () => {
  let running: ObservedGateway;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    profile = mkdtempSync(join(tmpdir(), 'mcp-bridge-chromium-'));
    running = await startObservedGateway({
      backends: {
        everything: everythingStdio,
        memory: {
          command: process.execPath,
          args: [
            join(
              dirname(require.resolve('@modelcontextprotocol/server-memory/package.json')),
              'dist/index.js',
            ),
          ],
          env: { MEMORY_FILE_PATH: join(profile, 'memory.jsonl') },
          killGraceMs: 500,
        },
      },
    });
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 1,
      isMobile: true,
      hasTouch: true,
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });

  afterAll(async () => {
    await context?.close();
    await running?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('shows the backends, and the playground calls a tool', async () => {
    await page.goto(`${running.admin}/`);
    await page.locator('#backends tr[data-backend="everything"]').waitFor();
    await expect(
      page.locator('#backends tr[data-backend="memory"] td').first().textContent(),
    ).resolves.toBe('memory');
    await expect(page.locator('#backend-select option').allTextContents()).resolves.toEqual([
      'everything',
      'memory',
      'all (aggregated)',
    ]);

    await page.locator('#backend-select').selectOption({ label: 'everything' });
    await page.locator('#connect').click();
    await page.locator('#connection.ok').waitFor({ timeout: 15_000 });
    await page.locator('#tools-list button[data-tool="echo"]').click();
    await page.locator('#call-args').fill('{ "message": "hello from the playground" }');
    await page.locator('#call').click();
    await page.locator('#result', { hasText: 'Echo: hello from the playground' }).waitFor();
    const result = JSON.parse((await page.locator('#result').textContent())!) as {
      content: Array<{ type: string; text: string }>;
    };
    expect(result.content).toEqual([{ type: 'text', text: 'Echo: hello from the playground' }]);

    // The playground's session shows up, and the backend is up, at the next poll.
    await page.locator('#sessions tbody tr', { hasText: 'streamable-http' }).waitFor();
    await page.locator('#backends tr[data-backend="everything"] .badge.up').waitFor();
    // Nothing wider than the phone's screen but the tables, which scroll on their own.
    const overflow = await page.evaluate<number>(
      'document.documentElement.scrollWidth - document.documentElement.clientWidth',
    );
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-phone.png'), fullPage: true });

    await page.setViewportSize({ width: 1280, height: 900 });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  });

  it('plots real traffic per backend, shows a backend in detail and each session with its caller', async () => {
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(`${running.admin}/`);
    // Real traffic for a dozen seconds: echoes to everything, reads to memory, and a call of
    // a method the server does not have every half second (an error of everything's own).
    const everything = await connectClient(new URL('/servers/everything/mcp', running.url));
    const memory = await connectClient(new URL('/servers/memory/mcp', running.url));
    const until = Date.now() + 12_000;
    let calls = 0;
    let failed = 0;
    while (Date.now() < until) {
      await everything.callTool({ name: 'echo', arguments: { message: `n${calls}` } });
      await memory.callTool({ name: 'read_graph', arguments: {} });
      if (calls % 5 === 0)
        await everything
          .request({ method: 'tools/no-such-method', params: {} }, EmptyResultSchema)
          .catch(() => failed++);
      calls++;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(failed).toBeGreaterThan(0);

    // The gateway's own samples say what the plots draw.
    const history = (await (await fetch(`${running.admin}/api/history`)).json()) as {
      intervalMs: number;
      samples: Array<{
        backends: Record<
          string,
          { requestsPerSecond: number; errorsPerSecond: number; p99Ms: number | null }
        >;
        sessions: number;
      }>;
    };
    expect(history.intervalMs).toBe(2000);
    expect(history.samples.length).toBeGreaterThanOrEqual(4);
    const busy = history.samples.filter((s) => (s.backends.everything?.requestsPerSecond ?? 0) > 1);
    expect(busy.length).toBeGreaterThanOrEqual(3);
    expect(busy.some((s) => s.backends.everything!.errorsPerSecond > 0)).toBe(true);
    expect(busy.every((s) => (s.backends.everything!.p99Ms ?? -1) >= 0)).toBe(true);
    expect(history.samples.some((s) => (s.backends.memory?.requestsPerSecond ?? 0) > 1)).toBe(true);
    expect(history.samples.at(-1)!.sessions).toBeGreaterThanOrEqual(2);

    // Four plots, drawn, with a line per backend.
    await page.waitForFunction('Number(document.body.dataset.samples) >= 4', undefined, {
      timeout: 10_000,
    });
    await expect(page.locator('.plot canvas').count()).resolves.toBe(4);
    const legend = await page.locator('#plot-requests .u-legend').textContent();
    expect(legend).toContain('everything');
    expect(legend).toContain('memory');
    await expect(page.locator('#plot-latency .u-legend').textContent()).resolves.toContain(
      'everything p99',
    );

    // A backend's detail: its tools, its state changes, its last errors.
    await page.locator('#backends tr[data-backend="everything"] button').click();
    await page.locator('#detail-tools li', { hasText: 'echo' }).waitFor({ timeout: 15_000 });
    await page.locator('#detail-states .badge.up').first().waitFor();
    await page
      .locator('#detail-errors li', { hasText: 'tools/no-such-method: -32601' })
      .first()
      .waitFor();
    await expect(page.locator('#detail-name').textContent()).resolves.toBe('everything');

    // Each session with its caller: the client's name from its initialize, and its address.
    await page
      .locator('#sessions tbody tr', { hasText: 'mcp-bridge-test 1.0.0 · 127.0.0.1' })
      .first()
      .waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-plots-desktop.png'), fullPage: true });

    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300); // the plots take the new width at the next frame
    const overflow = await page.evaluate<number>(
      'document.documentElement.scrollWidth - document.documentElement.clientWidth',
    );
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-plots-phone.png'), fullPage: true });
    await everything.close();
    await memory.close();
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('has the test client, over WebSocket and SSE', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${running.admin}/test-client`);
    await page
      .locator('#endpoint option', { hasText: 'everything' })
      .waitFor({ state: 'attached' });
    await page.locator('#endpoint').selectOption({ label: 'everything' });

    await page.locator('#ws-connect').click();
    await page.locator('#ws-status', { hasText: 'open' }).waitFor();
    await page.locator('#ws-send').click();
    await page.locator('#ws-log', { hasText: '"serverInfo"' }).waitFor({ timeout: 15_000 });

    await page.locator('#sse-connect').click();
    await page.locator('#sse-status', { hasText: 'open' }).waitFor({ timeout: 15_000 });
    await page.locator('#sse-send').click();
    await page.locator('#sse-log', { hasText: '"serverInfo"' }).waitFor({ timeout: 15_000 });

    const sessions = running.gateway.sessions().map((s) => `${s.transport}:${s.backend}`);
    expect(sessions).toEqual(expect.arrayContaining(['websocket:everything', 'sse:everything']));
    await page.screenshot({ path: join(ARTIFACTS, 'test-client.png'), fullPage: true });
    await page.locator('#ws-close').click();
    await page.locator('#sse-close').click();
    expect(pageErrors).toEqual([]);
  });
});
