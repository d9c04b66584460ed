import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  META,
  canonicalJson,
  isModernMessage,
  carriedCapabilities,
  modernError,
  modernResult,
  readEnvelope,
  retryIdentity,
  withoutEnvelope,
} from './modern.js';
import { RequestStateSealer, STATE_PREFIX } from './request-state.js';
import type { ContinuationClaims } from './request-state.js';
import { headerValue } from './headers.js';
import { honoured, readFilter } from './listen.js';
import type { JSONRPCReply, JSONRPCRequest } from '../core/jsonrpc.js';

const request = (method: string, meta?: Record<string, unknown>, params: object = {}) =>
  ({
    jsonrpc: '2.0',
    id: 1,
    method,
    params: { ...params, ...(meta && { _meta: meta }) },
  }) as JSONRPCRequest;

const envelope = (extra: Record<string, unknown> = {}) => ({
  [META.protocolVersion]: '2026-07-28',
  [META.clientCapabilities]: {},
  ...extra,
});

describe('classifying a message', () => {
  it.each([
    ['a claim in _meta', request('tools/list', envelope()), true],
    ['server/discover, even without a claim', request('server/discover'), true],
    ['a legacy request', request('tools/list'), false],
    ['_meta without the claim', request('tools/list', { progressToken: 1 }), false],
    [
      'legacy initialize',
      request('initialize', undefined, { protocolVersion: '2025-11-25' }),
      false,
    ],
    ['a reply', { jsonrpc: '2.0', id: 1, result: {} }, false],
    ['an array _meta', { jsonrpc: '2.0', id: 1, method: 'x', params: { _meta: [] } }, false],
  ])('%s', (_name, message, modern) => {
    expect(isModernMessage(message as JSONRPCRequest)).toBe(modern);
  });
});

describe('reading the envelope', () => {
  it('takes version, capabilities, client info and log level', () => {
    const env = readEnvelope(
      request(
        'tools/list',
        envelope({
          [META.clientCapabilities]: { sampling: {} },
          [META.clientInfo]: { name: 'c', version: '2' },
          [META.logLevel]: 'info',
        }),
      ),
    );
    expect(env).toEqual({
      protocolVersion: '2026-07-28',
      clientCapabilities: { sampling: {} },
      clientInfo: { name: 'c', version: '2' },
      logLevel: 'info',
    });
  });

  it('refuses an unknown version with -32022 naming the supported ones', () => {
    expect(
      readEnvelope(request('tools/list', envelope({ [META.protocolVersion]: '2030-01-01' }))),
    ).toMatchObject({
      status: 400,
      code: -32022,
      data: { supported: expect.arrayContaining(['2026-07-28']), requested: '2030-01-01' },
    });
  });

  it.each([
    ['no clientCapabilities', { [META.protocolVersion]: '2026-07-28' }],
    ['array clientCapabilities', envelope({ [META.clientCapabilities]: [] })],
    ['a bad log level', envelope({ [META.logLevel]: 'loud' })],
    ['no protocolVersion', { [META.clientCapabilities]: {} }],
  ])('refuses %s with -32602', (_name, meta) => {
    expect(readEnvelope(request('tools/list', meta))).toMatchObject({ status: 400, code: -32602 });
  });
});

describe('translating', () => {
  it('maps modern client capabilities to a legacy initialize (roots without listChanged)', () => {
    expect(
      carriedCapabilities({ sampling: {}, elicitation: { form: {} }, roots: { x: 1 }, tasks: {} }),
    ).toEqual({ sampling: {}, elicitation: { form: {} }, roots: {} });
  });

  it('strips only the envelope keys from _meta', () => {
    expect(
      withoutEnvelope({ name: 't', _meta: envelope({ progressToken: 7, traceparent: 'x' }) }),
    ).toEqual({ name: 't', _meta: { progressToken: 7, traceparent: 'x' } });
    expect(withoutEnvelope({ name: 't', _meta: envelope() })).toEqual({ name: 't' });
  });

  it('adds resultType, serverInfo and, on cacheable results, the caching hints', () => {
    const cache = { ttlMs: 0, cacheScope: 'private' as const };
    expect(modernResult('tools/list', { tools: [] }, { name: 's' }, cache)).toEqual({
      tools: [],
      resultType: 'complete',
      ttlMs: 0,
      cacheScope: 'private',
      _meta: { [META.serverInfo]: { name: 's' } },
    });
    expect(modernResult('tools/call', { content: [] }, undefined, cache)).toEqual({
      content: [],
      resultType: 'complete',
    });
  });

  it('maps the legacy resource-not-found code -32002 to -32602', () => {
    const reply = { jsonrpc: '2.0', id: 1, error: { code: -32002, message: 'nope' } };
    expect(modernError(reply as JSONRPCReply & { error: { code: number } })).toMatchObject({
      error: { code: -32602, message: 'nope' },
    });
  });

  it('binds a retry to the request, not to its round fields or key order', () => {
    const a = retryIdentity({ name: 't', arguments: { b: 1, a: 2 }, _meta: { x: 1 } });
    const b = retryIdentity({
      arguments: { a: 2, b: 1 },
      name: 't',
      requestState: 's',
      inputResponses: { k: {} },
    });
    expect(a).toBe(b);
    expect(retryIdentity({ name: 'u' })).not.toBe(a);
    expect(canonicalJson({ b: [1, { d: 1, c: 2 }], a: null })).toBe(
      '{"a":null,"b":[1,{"c":2,"d":1}]}',
    );
  });
});

describe('sealing requestState', () => {
  const claims: ContinuationClaims = {
    continuation: 'c:1',
    replica: 'r',
    principal: 'p',
    method: 'tools/call',
    params: 'd',
    expires: Date.now() + 60_000,
  };

  it('opens what it sealed', () => {
    const sealer = new RequestStateSealer();
    const state = sealer.seal(claims);
    expect(state.startsWith(STATE_PREFIX)).toBe(true);
    expect(sealer.open(state)).toEqual(claims);
  });

  it('refuses a tampered, a foreign, an expired and a malformed state', () => {
    const sealer = new RequestStateSealer();
    const state = sealer.seal(claims);
    const body = Buffer.from(state.slice(STATE_PREFIX.length), 'base64url');
    body[body.length - 1]! ^= 1;
    expect(sealer.open(STATE_PREFIX + body.toString('base64url'))).toBe('forged');
    expect(new RequestStateSealer().open(state)).toBe('forged');
    expect(sealer.open(sealer.seal({ ...claims, expires: Date.now() - 1 }))).toBe('expired');
    expect(sealer.open('mcpb1.short')).toBe('malformed');
    expect(sealer.open('not-ours')).toBe('malformed');
  });

  it('rotates keys: the new key seals, the old one still opens', () => {
    const oldKey = randomBytes(32).toString('base64');
    const newKey = randomBytes(32).toString('base64');
    const before = new RequestStateSealer([oldKey]).seal(claims);
    const rotated = new RequestStateSealer([newKey, oldKey]);
    expect(rotated.open(before)).toEqual(claims);
    expect(new RequestStateSealer([newKey]).open(rotated.seal(claims))).toEqual(claims);
    expect(() => new RequestStateSealer(['c2hvcnQ='])).toThrow(/32 bytes/);
  });
});

describe('Mcp-Name values', () => {
  it.each([
    ['get_weather', 'get_weather'],
    ['file:///tmp/a.txt', 'file:///tmp/a.txt'],
    ['café', `=?base64?${Buffer.from('café').toString('base64')}?=`],
    [' padded ', `=?base64?${Buffer.from(' padded ').toString('base64')}?=`],
    ['line\nbreak', `=?base64?${Buffer.from('line\nbreak').toString('base64')}?=`],
    ['=?base64?abc?=', `=?base64?${Buffer.from('=?base64?abc?=').toString('base64')}?=`],
  ])('%j → %j', (value, header) => {
    expect(headerValue(value)).toBe(header);
  });
});

describe('listen filters', () => {
  it('reads a filter and refuses a malformed one', () => {
    expect(readFilter({ notifications: { toolsListChanged: true, other: 1 } })).toEqual({
      toolsListChanged: true,
    });
    expect(readFilter({ notifications: { resourceSubscriptions: [1] } })).toBeUndefined();
    expect(readFilter({})).toBeUndefined();
  });

  it('honours only what the server advertises', () => {
    const filter = {
      toolsListChanged: true,
      promptsListChanged: true,
      resourceSubscriptions: ['a', 'a'],
    };
    expect(
      honoured(filter, { tools: { listChanged: true }, resources: { subscribe: true } }),
    ).toEqual({
      toolsListChanged: true,
      resourceSubscriptions: ['a'],
    });
    expect(honoured(filter, {})).toEqual({});
  });
});
