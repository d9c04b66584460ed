import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium } from 'playwright-core';
import type { BrowserContext, Page } from 'playwright-core';
import { startRestGateway } from '../rest-helpers.js';
import type { RestGateway } from '../rest-helpers.js';
import { CHROMIUM, CHROMIUM_FLAGS, sayWhenSkipped } from '../browser-helpers.js';

/*
 * /docs in headless Chromium: Swagger UI loads from the gateway itself under its strict CSP
 * (every request the page makes goes to the gateway's origin, none is refused), renders the
 * document with the backends' tools, and "Try it out" → "Execute" on server-everything's echo
 * comes back with the tool's answer.
 */

sayWhenSkipped('rest-docs');
const FLAGS = CHROMIUM_FLAGS;

describe.skipIf(!CHROMIUM)('/docs in Chromium', () => {
  let running: RestGateway;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const problems: string[] = [];
  const requested: string[] = [];

  beforeAll(async () => {
    profile = mkdtempSync(join(tmpdir(), 'mcp-bridge-rest-docs-'));
    running = await startRestGateway();
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: { width: 1280, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('request', (request) => requested.push(request.url()));
  });

  afterAll(async () => {
    await context?.close();
    await running?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('renders the document and executes a tool call from the page (Try it out → Execute)', async () => {
    const response = await page.goto(`${running.base}/docs`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");

    const operation = page.locator('#operations-backend-everything-call_everything_echo');
    await operation.waitFor({ timeout: 20_000 });
    await operation.locator('.opblock-summary').first().click();
    // The page opens operations ready to try (tryItOutEnabled): the body is editable at once.
    await operation.locator('textarea.body-param__text').fill('{"message":"from the docs page"}');
    await operation.getByRole('button', { name: 'Execute' }).click();
    const body = operation.locator('.live-responses-table .response-col_description pre').first();
    await body.waitFor({ timeout: 20_000 });
    const text = await body.innerText();
    expect(text).toContain('Echo: from the docs page');
    expect(text).toContain('"success": true');

    const origin = new URL(running.base).origin;
    expect(requested.length).toBeGreaterThan(3);
    expect(requested.filter((url) => !url.startsWith(origin) && !url.startsWith('data:'))).toEqual(
      [],
    );
    expect(problems).toEqual([]);
  }, 60_000);
});
