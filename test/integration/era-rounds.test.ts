import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, startGateway } from '../helpers.js';
import type { RunningGateway } from '../helpers.js';
import { callModern, modernBody, postModern } from '../era-helpers.js';

/*
 * The edges of input_required rounds, against a 2025 server whose tools make real server→client
 * requests (the conformance suite's legacy fixture, over stdio): several requests in one round,
 * a second round after the first, a state that expired, and a retry abandoned mid-round.
 */

const LEGACY = join(FIXTURES, 'conformance-legacy-server.mjs');
const ALL = { sampling: {}, elicitation: { form: {} }, roots: {} };

const elicited = (content: Record<string, unknown>) => ({ action: 'accept', content });
const sampled = (text: string) => ({
  role: 'assistant',
  model: 'm',
  content: { type: 'text', text },
});

describe('input_required rounds in front of a 2025 server', () => {
  let gw: RunningGateway;

  beforeAll(async () => {
    gw = await startGateway(
      { transport: 'stdio', command: process.execPath, args: [LEGACY], killGraceMs: 500 },
      { modern: { continuationTtlMs: 1000 } },
    );
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('three server requests at once make one round with three keys; the retry completes the call', async () => {
    const params = { name: 'test_input_required_result_multiple_inputs', arguments: {} };
    const first = await callModern(gw.url, 'tools/call', params, { capabilities: ALL });
    const result = first.reply.result as {
      resultType: string;
      inputRequests: Record<string, { method: string }>;
      requestState: string;
    };
    expect(result.resultType).toBe('input_required');
    const byMethod = Object.fromEntries(
      Object.entries(result.inputRequests).map(([key, r]) => [r.method, key]),
    );
    expect(Object.keys(byMethod).sort()).toEqual([
      'elicitation/create',
      'roots/list',
      'sampling/createMessage',
    ]);
    const final = await callModern(
      gw.url,
      'tools/call',
      {
        ...params,
        requestState: result.requestState,
        inputResponses: {
          [byMethod['elicitation/create']!]: elicited({ name: 'Ada' }),
          [byMethod['sampling/createMessage']!]: sampled('Hello'),
          [byMethod['roots/list']!]: { roots: [{ uri: 'file:///a' }, { uri: 'file:///b' }] },
        },
      },
      { capabilities: ALL },
    );
    expect(JSON.stringify(final.reply.result)).toContain('name=Ada greeting=Hello roots=2');
  });

  it('two rounds in sequence, each with its own state', async () => {
    const params = { name: 'test_input_required_result_multi_round', arguments: {} };
    const one = await callModern(gw.url, 'tools/call', params, { capabilities: ALL });
    const r1 = one.reply.result as { inputRequests: Record<string, unknown>; requestState: string };
    const [k1] = Object.keys(r1.inputRequests);
    const two = await callModern(
      gw.url,
      'tools/call',
      {
        ...params,
        requestState: r1.requestState,
        inputResponses: { [k1!]: elicited({ name: 'Bo' }) },
      },
      { capabilities: ALL },
    );
    const r2 = two.reply.result as {
      resultType: string;
      inputRequests: Record<string, unknown>;
      requestState: string;
    };
    expect(r2.resultType).toBe('input_required');
    expect(r2.requestState).not.toBe(r1.requestState);
    const [k2] = Object.keys(r2.inputRequests);
    expect(k2).not.toBe(k1);
    const done = await callModern(
      gw.url,
      'tools/call',
      {
        ...params,
        requestState: r2.requestState,
        inputResponses: { [k2!]: elicited({ color: 'red' }) },
      },
      { capabilities: ALL },
    );
    expect(JSON.stringify(done.reply.result)).toContain('name=Bo color=red');
  });

  it('a state past modern.continuationTtlMs is refused with 400 -32602', async () => {
    const params = { name: 'test_input_required_result_request_state', arguments: {} };
    const first = await callModern(gw.url, 'tools/call', params, { capabilities: ALL });
    const { requestState, inputRequests } = first.reply.result as {
      requestState: string;
      inputRequests: Record<string, unknown>;
    };
    await new Promise((r) => setTimeout(r, 1300));
    const late = await callModern(
      gw.url,
      'tools/call',
      {
        ...params,
        requestState,
        inputResponses: { [Object.keys(inputRequests)[0]!]: elicited({ ok: true }) },
      },
      { capabilities: ALL },
    );
    expect(late.status).toBe(400);
    expect(late.reply.error).toMatchObject({
      code: -32602,
      message: expect.stringContaining('expired'),
    });
  });

  it('a retry abandoned mid-round ends the call; its state cannot be used again', async () => {
    const params = { name: 'test_input_required_result_multi_round', arguments: {} };
    const one = await callModern(gw.url, 'tools/call', params, { capabilities: ALL });
    const r1 = one.reply.result as { inputRequests: Record<string, unknown>; requestState: string };
    const [k1] = Object.keys(r1.inputRequests);
    // The retry answers round one; the server then asks again, and the gateway would hand that
    // out as round two — but the client closes the stream right after sending.
    const controller = new AbortController();
    const abandoned = postModern(
      gw.url,
      modernBody(
        'tools/call',
        {
          ...params,
          requestState: r1.requestState,
          inputResponses: { [k1!]: elicited({ name: 'C' }) },
        },
        { capabilities: ALL },
      ),
      { signal: controller.signal },
    );
    setTimeout(() => controller.abort(), 5);
    await abandoned.catch(() => undefined);
    const again = await callModern(
      gw.url,
      'tools/call',
      {
        ...params,
        requestState: r1.requestState,
        inputResponses: { [k1!]: elicited({ name: 'C' }) },
      },
      { capabilities: ALL },
    );
    expect(again.status).toBe(400);
    expect(again.reply.error?.code).toBe(-32602);
    // The gateway goes on serving modern requests.
    const after = await callModern(gw.url, 'tools/list', {}, { capabilities: ALL });
    expect(after.reply.result).toMatchObject({ resultType: 'complete' });
  });
});
