import type { BackendConfig } from '../config/schema.js';
import type { JSONRPCNotification } from '../core/jsonrpc.js';
import type { Principal, RequestContext } from '../core/context.js';
import type { Outcome, Policy } from '../core/policy.js';
import { compose } from '../core/policy.js';
import type { Logger } from '../core/logger.js';
import type { Backend } from '../backends/backend.js';
import { BackendLink } from './link.js';
import type { Upstream } from './link.js';
import type { SessionTarget, TargetDescription } from './target.js';

/**
 * One configured backend as requests meet it: its own chain of policies (tool view,
 * authorization, rate limits, deadline, retries, circuit breaker, in that order, as the gateway
 * assembles them) in front of a connection. A session bound to the backend runs it directly; an
 * aggregated session runs it for each request it routes here. Either way the same code decides,
 * and the route on the context names this backend.
 */
export class BackendTarget {
  constructor(
    readonly name: string,
    readonly config: Readonly<BackendConfig>,
    readonly backend: Backend,
    private readonly policies: readonly Policy[],
    /** Sees every notification the backend sends (the response cache's invalidation). */
    private readonly observe?: (message: JSONRPCNotification) => void,
  ) {}

  /** A new connection to the backend (not started), for one session or one member of one. */
  link(upstream: Upstream, log: Logger, principal: Principal | undefined): BackendLink {
    const observe = this.observe;
    // Wrapped only when someone listens: otherwise a notification costs nothing more.
    const heard: Upstream = observe
      ? {
          notification(message, backend, related) {
            observe(message);
            upstream.notification(message, backend, related);
          },
          request: (message, backend) => upstream.request(message, backend),
        }
      : upstream;
    return new BackendLink(this.name, this.backend.connect(log, principal), heard, log);
  }

  /** The chain over one connection: the route is recorded, then every policy, then the send. */
  chain(link: BackendLink): (ctx: RequestContext) => Promise<Outcome> {
    const run = compose(this.policies, (ctx) => link.forward(ctx));
    const name = this.name;
    return (ctx) => {
      // One small object, built without spreads: this runs for every request.
      const route: { backend: string; name?: string; offered?: string } = { backend: name };
      const named = namedIn(ctx);
      if (named !== undefined) route.name = named;
      const offered = ctx.route?.offered;
      if (offered !== undefined) route.offered = offered;
      ctx.route = route;
      return run(ctx);
    };
  }

  /** A session bound to this backend alone. */
  bind(upstream: Upstream, log: Logger, principal: Principal | undefined): SessionTarget {
    return new DirectTarget(this, this.link(upstream, log, principal));
  }
}

/** What a call names (a tool or prompt), for the route. */
function namedIn(ctx: RequestContext): string | undefined {
  const { method, params } = ctx.message;
  if (method !== 'tools/call' && method !== 'prompts/get') return undefined;
  return typeof params?.name === 'string' ? params.name : undefined;
}

class DirectTarget implements SessionTarget {
  onclose?: SessionTarget['onclose'];
  private readonly run: (ctx: RequestContext) => Promise<Outcome>;

  constructor(
    target: BackendTarget,
    private readonly link: BackendLink,
  ) {
    this.run = target.chain(link);
    link.onclose = (error) => this.onclose?.(error);
  }

  start(): Promise<void> {
    return this.link.start();
  }

  dispatch(ctx: RequestContext): Promise<Outcome> {
    return this.run(ctx);
  }

  notify(message: JSONRPCNotification): Promise<void> {
    return this.link.notify(message);
  }

  setProtocolVersion(version: string): void {
    this.link.transport.setProtocolVersion?.(version);
  }

  describe(): TargetDescription {
    const { pid, replica } = this.link.transport;
    return { pid, ...(replica !== undefined && { replica }) };
  }

  close(): Promise<void> {
    return this.link.close();
  }
}
