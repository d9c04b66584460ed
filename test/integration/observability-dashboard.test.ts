import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium } from 'playwright-core';
import type { BrowserContext, Page } from 'playwright-core';
import { everythingStdio } from '../helpers.js';
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
