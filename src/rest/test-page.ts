import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';

/*
 * Seed 000's browser test page where seed 000 serves it (`/static/test_client.html`): a plain
 * page of ours in `dashboard/static/` that opens a REST session, lists its tools and calls one.
 * The files are read once, on the first request; nothing comes from a CDN, and the page's script
 * is a file, so the CSP needs no inline script.
 */

/** `dashboard/static/` at the package root: the same path from `src/rest/` and `dist/rest/`. */
const STATIC_DIR = fileURLToPath(new URL('../../dashboard/static/', import.meta.url));

const FILES: Readonly<Record<string, string>> = {
  'test_client.html': 'text/html; charset=utf-8',
  'test_client.js': 'text/javascript; charset=utf-8',
  'test_client.css': 'text/css; charset=utf-8',
};

export const TEST_PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const cache = new Map<string, Buffer>();

/** Serves `/static/<file>` of the test page; false when `path` is none of its files. */
export function serveTestPage(path: string, res: ServerResponse): boolean {
  const name = path.startsWith('/static/') ? path.slice('/static/'.length) : '';
  const type = FILES[name];
  if (type === undefined) return false;
  let data = cache.get(name);
  if (data === undefined) {
    data = readFileSync(`${STATIC_DIR}${name}`);
    cache.set(name, data);
  }
  res
    .writeHead(200, {
      'content-type': type,
      'content-length': String(data.length),
      'content-security-policy': TEST_PAGE_CSP,
      'cache-control': 'no-cache',
    })
    .end(data);
  return true;
}

/** The paths serveTestPage answers, for the route check of the tests. */
export const TEST_PAGE_PATHS = Object.keys(FILES).map((name) => `/static/${name}`);
