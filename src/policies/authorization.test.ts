import { describe, expect, it } from 'vitest';
import type { Principal, RequestContext } from '../core/policy.js';
import { messageContext } from '../../test/contexts.js';
import { createAuthorizer } from './authorization.js';

const alice: Principal = { id: 'alice', scopes: ['tools:read'], claims: { team: 'infra' } };
const bob: Principal = { id: 'bob', scopes: [] };

function ctx(
  method: string,
  params: Record<string, unknown>,
  principal?: Principal,
): RequestContext {
  return messageContext({
    message: { jsonrpc: '2.0', id: 1, method, params },
    principal,
    route: { backend: 'github' },
  });
}

describe('authorization', () => {
  const authz = createAuthorizer({
    default: 'deny',
    rules: [
      { effect: 'deny', tools: ['delete_*'] },
      { effect: 'allow', claims: { team: 'infra' } },
      { effect: 'allow', principals: ['bob'], backends: ['github'], tools: ['search_*'] },
    ],
  });

  it('decides by the first matching rule, then the default', () => {
    expect(authz.allows(alice, 'github', 'tools', 'delete_repo')).toBe(false);
    expect(authz.allows(alice, 'github', 'tools', 'create_issue')).toBe(true);
    expect(authz.allows(bob, 'github', 'tools', 'search_code')).toBe(true);
    expect(authz.allows(bob, 'github', 'tools', 'create_issue')).toBe(false);
    expect(authz.allows(bob, 'gitlab', 'tools', 'search_code')).toBe(false);
    expect(authz.allows(undefined, 'github', 'prompts', 'anything')).toBe(false);
  });

  it('names the missing permission when a call is refused', async () => {
    await expect(
      authz.policy(ctx('tools/call', { name: 'create_issue' }, bob), async () => undefined),
    ).rejects.toMatchObject({
      code: 'GATEWAY_FORBIDDEN',
      message: 'Forbidden: "bob" lacks the permission tool:create_issue on github',
    });
  });

  it('filters lists to what the caller may use', async () => {
    const reply = await authz.policy(ctx('tools/list', {}, bob), async () => ({
      jsonrpc: '2.0',
      id: 1,
      result: {
        tools: [{ name: 'search_code' }, { name: 'create_issue' }, { name: 'delete_repo' }],
      },
    }));
    expect(
      (reply as unknown as { result: { tools: Array<{ name: string }> } }).result.tools.map(
        (t) => t.name,
      ),
    ).toEqual(['search_code']);
  });
});
