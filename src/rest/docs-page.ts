import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/*
 * /docs: Swagger UI from the swagger-ui-dist package, served from this process (nothing from a
 * CDN), under a CSP that allows scripts and requests to this origin only. The page's own
 * initializer is a file too, so no inline script is needed.
 */

const require = createRequire(import.meta.url);

/** The files of /docs/*: the package's, read once on first use. */
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  // Swagger UI sets style attributes from its scripts.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mcp-bridge REST API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

// validatorUrl null: Swagger UI would otherwise ask validator.swagger.io about the document.
const INIT = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  tryItOutEnabled: true,
  persistAuthorization: false,
});
`;

let cache: Map<string, Buffer> | undefined;

function file(name: string): Buffer | undefined {
  cache ??= new Map();
  let data = cache.get(name);
  if (!data) {
    const dir = dirname(require.resolve('swagger-ui-dist/package.json'));
    data = readFileSync(join(dir, name));
    cache.set(name, data);
  }
  return data;
}

/** Serves `/docs` and `/docs/*`; false when `path` is neither. */
export function serveDocs(path: string, res: ServerResponse): boolean {
  const headers = { 'content-security-policy': DOCS_CSP, 'cache-control': 'no-cache' };
  if (path === '/docs' || path === '/docs/') {
    res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
    return true;
  }
  if (path === '/docs/init.js') {
    res.writeHead(200, { ...headers, 'content-type': 'text/javascript; charset=utf-8' }).end(INIT);
    return true;
  }
  const name = path.startsWith('/docs/') ? path.slice('/docs/'.length) : '';
  const type = ASSETS[name];
  if (!type) return false;
  const data = file(name)!;
  res
    .writeHead(200, { ...headers, 'content-type': type, 'content-length': String(data.length) })
    .end(data);
  return true;
}

/** The paths serveDocs answers, for the route check of the tests. */
export const DOCS_PATHS = [
  '/docs',
  '/docs/init.js',
  ...Object.keys(ASSETS).map((n) => `/docs/${n}`),
];
