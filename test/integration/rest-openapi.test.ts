import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RestSessions } from '../../src/rest/rest-sessions.js';
import { seed000Routes } from '../../src/rest/routes-seed000.js';
import { seed001Routes } from '../../src/rest/routes-seed001.js';
import { DOCS_PATHS } from '../../src/rest/docs-page.js';
import { createLogger } from '../../src/core/logger.js';
import { call, startRestGateway } from '../rest-helpers.js';
import type { RestGateway } from '../rest-helpers.js';

/*
 * /openapi.json is a valid OpenAPI 3.1 document; every route the REST layer serves (its route
 * table, the ops endpoints, /docs) is in it and every path in it is served; each backend's tools
 * appear as one-shot operations whose body is the tool's inputSchema, for callers who may see
 * them.
 */

const KEY = 'openapi-key-0123456789';
let running: RestGateway;

/** The route table as the handler builds it (the handlers are not run here). */
const TABLE = (() => {
  const deps = {
    sessions: new RestSessions(
      {
        open: () => Promise.reject(new Error('unused')),
        rootEndpoint: () => '*',
        hasBackend: () => false,
      },
      () => ({}) as never,
      createLogger({ level: 'silent' }),
    ),
    config: () => ({}) as never,
    ops: { ready: () => ({ ready: true, reasons: [] }), backends: () => [], stats: () => ({}) },
  };
  return [...seed000Routes(deps), ...seed001Routes(deps)];
})();

const OPS = [
  '/health',
  '/healthz',
  '/ready',
  '/stats',
  '/api/v1/services',
  '/api/v1/services/{service_id}',
  '/api/v1/services/{service_id}/health',
];

beforeAll(async () => {
  running = await startRestGateway({ auth: { required: true, apiKeys: [KEY] } });
});
afterAll(async () => {
  await running?.close();
});

async function spec(key?: string) {
  const answer = await call(running.base, 'GET', '/openapi.json', undefined, key);
  expect(answer.status).toBe(200);
  return answer.json as {
    openapi: string;
    paths: Record<
      string,
      Record<string, { requestBody?: { content: Record<string, { schema: unknown }> } }>
    >;
  };
}

describe('/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document listing every route served, with each tool', async () => {
    const doc = await spec(KEY);
    expect(doc.openapi).toBe('3.1.0');
    const validator = new Validator();
    const result = await validator.validate(doc as never);
    expect(result.errors ?? [], JSON.stringify(result.errors)).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');

    for (const r of TABLE) {
      expect(doc.paths[r.path]?.[r.method.toLowerCase()], `${r.method} ${r.path}`).toBeDefined();
    }
    for (const path of [...OPS, '/openapi.json', '/docs'])
      expect(doc.paths[path]?.get, path).toBeDefined();

    // Tools of both backends, their bodies the tools' own schemas.
    const echo = doc.paths['/api/v1/servers/everything/tools/echo']?.post;
    expect(echo).toBeDefined();
    const schema = echo!.requestBody!.content['application/json']!.schema as {
      properties: Record<string, unknown>;
      required: string[];
    };
    expect(Object.keys(schema.properties)).toContain('message');
    expect(schema.required).toContain('message');
    expect(doc.paths['/api/v1/servers/memory/tools/create_entities']?.post).toBeDefined();
  });

  it('lists no tools for a caller without the credential auth requires, and stays valid', async () => {
    const doc = await spec();
    const result = await new Validator().validate(doc as never);
    expect(result.valid).toBe(true);
    expect(
      Object.keys(doc.paths).filter((p) => p.startsWith('/api/v1/servers/everything/')),
    ).toEqual([]);
    expect(doc.paths['/sessions']?.post).toBeDefined();
  });

  it('describes only what is served: every documented path answers', async () => {
    const doc = await spec(KEY);
    for (const [template, ops] of Object.entries(doc.paths)) {
      const path = template.replace(/\{(\w+)\}/g, (_, name: string) =>
        name === 'service_id'
          ? 'everything'
          : name === 'backend'
            ? 'everything'
            : name === 'tool'
              ? 'echo'
              : 'none',
      );
      // Of the concrete tool operations, one is called (the others are the same handler).
      if (
        /^\/api\/v1\/servers\/[^{]/.test(template) &&
        !template.endsWith('/everything/tools/echo')
      )
        continue;
      for (const method of Object.keys(ops)) {
        if (method === 'get' && (template.includes('/events') || template === '/docs')) continue;
        const body = method === 'post' ? {} : undefined;
        const answer = await call(running.base, method.toUpperCase(), path, body, KEY);
        // Anything but the listener's own "no endpoint" 404.
        const text = JSON.stringify(answer.json);
        expect(text, `${method} ${path}`).not.toContain('no endpoint at');
        expect(answer.status, `${method} ${path}`).not.toBe(405);
      }
    }
    for (const path of DOCS_PATHS) {
      const res = await fetch(`${running.base}${path}`);
      expect(res.status, path).toBe(200);
      await res.arrayBuffer();
    }
  });
});
