import FindMyWay from 'find-my-way';
import type { HTTPMethod, HTTPVersion, Instance } from 'find-my-way';

/*
 * The lookup behind both HTTP listeners (the gateway's and the admin one): find-my-way, Fastify's
 * radix-tree router, over a list of routes declared as data (`routes.ts`). It only finds; what a
 * listener does before and around a route (admission, authentication) is the listener's.
 */

export type Method = 'GET' | 'HEAD' | 'POST' | 'DELETE';

/** Every method a route with `methods: '*'` answers (the admin listener's proxy passes them all on). */
const ANY: readonly HTTPMethod[] = ['GET', 'HEAD', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS'];

export interface RouteBase {
  /** find-my-way syntax: `/servers/:name/mcp`, `/dashboard/*`. */
  readonly path: string;
  /** Methods served over plain HTTP; `'*'` for any. An upgrade-only route has none. */
  readonly methods: readonly Method[] | '*';
  /** Present when the route accepts a WebSocket upgrade (a GET with `Upgrade:`): its handler. */
  readonly upgrade?: (...args: never[]) => unknown;
}

export type Params = Readonly<Record<string, string | undefined>>;

export interface Match<R> {
  route: R;
  params: Params;
}

export type Lookup<R> =
  | { kind: 'found'; route: R; params: Params }
  /** The path is served, with other methods: answer 405 with `Allow: <allow>`. */
  | { kind: 'method'; allow: string }
  | { kind: 'none' };

export interface Router<R> {
  /** The route for a plain HTTP request (`url` may hold a query, which is ignored). */
  find(method: string | undefined, url: string): Lookup<R>;
  /** The route for an upgrade request; undefined when no route at that path takes one. */
  findUpgrade(url: string): Match<R> | undefined;
}

// The query is left to the handlers that need it: find-my-way would otherwise parse every one.
const NO_QUERY = Object.freeze({});
const noop = () => {};

type Tree = Instance<HTTPVersion.V1>;

function tree(): Tree {
  return FindMyWay({
    // Backend names have no length limit of their own; the default (100) would 404 long ones.
    maxParamLength: 1024,
    querystringParser: () => NO_QUERY,
  });
}

/** The path of a request target, without its query. */
export function pathOf(url: string | undefined): string {
  if (!url) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** The query of a request target, with its `?`; `''` when there is none. */
export function queryOf(url: string | undefined): string {
  const q = url?.indexOf('?') ?? -1;
  return q === -1 ? '' : url!.slice(q);
}

/** A literal path as a find-my-way pattern: `:` would start a parameter (a configured `server.path`). */
export function literal(path: string): string {
  return path.replaceAll(':', '::');
}

/**
 * Builds the router for `routes`. Earlier routes win: a (method, path) that an earlier route
 * already serves is not registered again, so a configured `server.path` may shadow a fixed path.
 */
export function createRouter<R extends RouteBase>(routes: readonly R[]): Router<R> {
  const http = tree();
  const upgrades = tree();
  const methods = new Set<HTTPMethod>();
  for (const route of routes) {
    for (const method of route.methods === '*' ? ANY : route.methods) {
      methods.add(method);
      if (!http.hasRoute(method, route.path)) http.on(method, route.path, noop, route);
    }
    if (route.upgrade !== undefined && !upgrades.hasRoute('GET', route.path))
      upgrades.on('GET', route.path, noop, route);
  }
  const known = [...methods];
  // Generated matchers instead of the tree walk: same answers, about twice as fast.
  http.compile();
  upgrades.compile();

  return {
    find(method, url) {
      const hit = http.find((method ?? 'GET') as HTTPMethod, url);
      if (hit) return { kind: 'found', route: hit.store as R, params: hit.params };
      // Off the hot path: a miss asks each method the table uses whether it serves this path.
      const allow = known.filter((m) => http.find(m, url) !== null);
      return allow.length > 0 ? { kind: 'method', allow: allow.join(', ') } : { kind: 'none' };
    },
    findUpgrade(url) {
      const hit = upgrades.find('GET', url);
      return hit ? { route: hit.store as R, params: hit.params } : undefined;
    },
  };
}
