import { GatewayError } from '../core/errors.js';
import type { Outcome, Policy, Principal, RequestContext } from '../core/policy.js';
import { globMatcher } from '../core/glob.js';

/*
 * Who may use what. Rules are checked in order and the first that matches decides; a request no
 * rule matches gets the default. Lists are filtered to what the caller may use, and a call
 * outside that gets a JSON-RPC error naming the permission it lacked.
 */

export type Effect = 'allow' | 'deny';
type Kind = 'tools' | 'prompts' | 'resources';

export interface AuthorizationRule {
  effect: Effect;
  principals?: string[];
  scopes?: string[];
  claims?: Record<string, string | number | boolean>;
  backends?: string[];
  tools?: string[];
  prompts?: string[];
  resources?: string[];
}

interface CompiledRule {
  effect: Effect;
  principals?: RegExp;
  scopes?: string[];
  claims?: Record<string, string | number | boolean>;
  backends?: RegExp;
  names: Partial<Record<Kind, RegExp>>;
  anyKind: boolean;
}

function compile(rule: AuthorizationRule): CompiledRule {
  const names: Partial<Record<Kind, RegExp>> = {};
  for (const kind of ['tools', 'prompts', 'resources'] as const) {
    const m = globMatcher(rule[kind]);
    if (m) names[kind] = m;
  }
  return {
    effect: rule.effect,
    principals: globMatcher(rule.principals),
    scopes: rule.scopes,
    claims: rule.claims,
    backends: globMatcher(rule.backends),
    names,
    anyKind: Object.keys(names).length === 0,
  };
}

function callerMatches(rule: CompiledRule, principal: Principal | undefined): boolean {
  if (rule.principals && !(principal && rule.principals.test(principal.id))) return false;
  if (
    rule.scopes &&
    !(
      principal &&
      (principal.scopes.includes('*') || rule.scopes.every((s) => principal.scopes.includes(s)))
    )
  ) {
    return false;
  }
  if (rule.claims) {
    for (const [claim, value] of Object.entries(rule.claims)) {
      if (principal?.claims?.[claim] !== value) return false;
    }
  }
  return true;
}

export interface Authorizer {
  /** Whether `principal` may use the `kind` item `name` on `backend`. */
  allows(
    principal: Principal | undefined,
    backend: string | undefined,
    kind: Kind,
    name: string,
  ): boolean;
  policy: Policy;
}

const SINGULAR: Record<Kind, string> = { tools: 'tool', prompts: 'prompt', resources: 'resource' };

export function createAuthorizer(options: {
  rules: AuthorizationRule[];
  default: Effect;
}): Authorizer {
  const rules = options.rules.map(compile);

  function allows(
    principal: Principal | undefined,
    backend: string | undefined,
    kind: Kind,
    name: string,
  ): boolean {
    for (const rule of rules) {
      if (!callerMatches(rule, principal)) continue;
      if (rule.backends && !(backend !== undefined && rule.backends.test(backend))) continue;
      if (!rule.anyKind) {
        const names = rule.names[kind];
        if (!names || !names.test(name)) continue;
      }
      return rule.effect === 'allow';
    }
    return options.default === 'allow';
  }

  const refuse = (ctx: RequestContext, kind: Kind, name: string): never => {
    const who = ctx.principal ? `"${ctx.principal.id}"` : 'an anonymous caller';
    throw new GatewayError(
      'GATEWAY_FORBIDDEN',
      `${who} lacks the permission ${SINGULAR[kind]}:${name} on ${ctx.backend ?? 'this endpoint'}`,
      {
        data: { permission: `${SINGULAR[kind]}:${name}` },
      },
    );
  };

  const filter = (
    ctx: RequestContext,
    outcome: Outcome,
    kind: Kind,
    key: string,
    field: string,
  ): Outcome => {
    if (!outcome || !('result' in outcome)) return outcome;
    const result = outcome.result as Record<string, unknown>;
    const items = result[key];
    if (!Array.isArray(items)) return outcome;
    const kept = items.filter((item: Record<string, unknown>) =>
      allows(ctx.principal, ctx.backend, kind, String(item[field])),
    );
    return kept.length === items.length
      ? outcome
      : { ...outcome, result: { ...result, [key]: kept } };
  };

  const policy: Policy = async (ctx, next) => {
    const params = (ctx.message.params ?? {}) as Record<string, unknown>;
    switch (ctx.message.method) {
      case 'tools/call':
        if (!allows(ctx.principal, ctx.backend, 'tools', String(params.name)))
          refuse(ctx, 'tools', String(params.name));
        return next();
      case 'prompts/get':
        if (!allows(ctx.principal, ctx.backend, 'prompts', String(params.name)))
          refuse(ctx, 'prompts', String(params.name));
        return next();
      case 'resources/read':
      case 'resources/subscribe':
        if (!allows(ctx.principal, ctx.backend, 'resources', String(params.uri)))
          refuse(ctx, 'resources', String(params.uri));
        return next();
      case 'tools/list':
        return filter(ctx, await next(), 'tools', 'tools', 'name');
      case 'prompts/list':
        return filter(ctx, await next(), 'prompts', 'prompts', 'name');
      case 'resources/list':
        return filter(ctx, await next(), 'resources', 'resources', 'uri');
      default:
        return next();
    }
  };

  return { allows, policy };
}
