import { describe, expect, it } from 'vitest';
// @ts-expect-error: the fuzz harness is plain JavaScript, without declarations.
import { judgeMessage } from '../../fuzz/lib/verdict.mjs';

/* The fuzz oracle's stack-trace check: what the client sent back to it is not a leak of ours. */

type Judge = (message: unknown, raw: string, input: string) => { violations: { kind: string }[] };
const judge = judgeMessage as Judge;

describe('the fuzz oracle', () => {
  const frame = '    at Object.<anonymous> (/etc/x.js:1:1)';

  it('does not take a stack-like string id, which the client sent, for a leak', () => {
    const reply = { jsonrpc: '2.0', id: `${frame}#6705`, error: { code: -32600, message: 'no' } };
    const { violations } = judge(reply, JSON.stringify(reply), 'a later input');
    expect(violations.map((v) => v.kind)).not.toContain('stack-trace');
  });

  it('still finds a stack frame in the rest of a reply', () => {
    const reply = { jsonrpc: '2.0', id: 7, error: { code: -32603, message: `boom\n${frame}` } };
    const { violations } = judge(reply, JSON.stringify(reply), 'an input');
    expect(violations.map((v) => v.kind)).toContain('stack-trace');
  });
});
