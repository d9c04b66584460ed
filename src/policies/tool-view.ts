import type { BackendConfig } from '../config/schema.js';
import { errorReply } from '../core/jsonrpc.js';
import type { Policy } from '../core/policy.js';
import { globMatcher } from '../core/glob.js';

type ToolsConfig = BackendConfig['tools'];

/**
 * The tools a backend offers as the configuration shapes them: only those `include` admits and
 * `exclude` does not, under their configured names and descriptions. The same on the backend's
 * own endpoint and on the aggregated one: a tool left out is neither listed nor callable. A call
 * under a new name reaches the backend under its own, and the route says which it was.
 * Undefined when the configuration shapes nothing, so the chain has no step to run.
 */
export function toolView(tools: ToolsConfig): Policy | undefined {
  const include = globMatcher(tools.include);
  const exclude = globMatcher(tools.exclude);
  const overrides = Object.entries(tools.overrides);
  if (!include && !exclude && overrides.length === 0) return undefined;
  const offered = (own: string) => !(include && !include.test(own)) && !exclude?.test(own);
  /** A new name → the backend's own. A tool's own name is not callable once it is renamed. */
  const ownOf = new Map<string, string>();
  const renamed = new Set<string>();
  for (const [own, override] of overrides) {
    if (override.name === undefined) continue;
    ownOf.set(override.name, own);
    renamed.add(own);
  }

  return async (ctx, next) => {
    const { message } = ctx;
    if (message.method === 'tools/call') {
      const asked = typeof message.params?.name === 'string' ? message.params.name : '';
      const own = ownOf.get(asked) ?? (renamed.has(asked) ? undefined : asked);
      if (own === undefined || !offered(own))
        return errorReply(message.id, -32602, `Unknown tool: ${asked}`);
      if (own !== asked) {
        ctx.message = { ...message, params: { ...message.params, name: own } };
        ctx.route = {
          backend: ctx.route!.backend,
          name: own,
          offered: ctx.route?.offered ?? asked,
        };
      }
      return next();
    }
    if (message.method !== 'tools/list') return next();
    const outcome = await next();
    if (!outcome || !('result' in outcome)) return outcome;
    const list = outcome.result.tools;
    if (!Array.isArray(list)) return outcome;
    const tools: unknown[] = [];
    for (const tool of list as Array<Record<string, unknown>>) {
      const own = String(tool.name);
      if (!offered(own)) continue;
      const override = overrideOf(own);
      tools.push(
        override
          ? {
              ...tool,
              ...(override.name !== undefined && { name: override.name }),
              ...(override.description !== undefined && { description: override.description }),
            }
          : tool,
      );
    }
    return { ...outcome, result: { ...outcome.result, tools } };
  };

  function overrideOf(own: string) {
    return Object.hasOwn(tools.overrides, own) ? tools.overrides[own] : undefined;
  }
}
