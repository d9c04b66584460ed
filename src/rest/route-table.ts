import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ZodType } from 'zod';
import type { Principal } from '../core/policy.js';
import { GatewayError } from '../core/errors.js';
import { readBody, sendJson } from '../frontends/http-io.js';
import { sendHttpError } from '../http/error-reply.js';
import { ReplyError } from './rest-session.js';

/*
 * The REST routes as data: method, OpenAPI path template, the zod schemas of the body and the
 * answer, and the handler. The dispatcher matches with it and /openapi.json is generated from
 * it, so a route cannot be served without being described. (It is also the shape a route table
 * such as find-my-way takes, one entry per method and path.)
 */

export type Method = 'GET' | 'POST' | 'DELETE';

/** What a handler is given for one request. */
export interface Call<Body = unknown> {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The path's `{…}` parameters, decoded. */
  readonly params: Readonly<Record<string, string>>;
  readonly body: Body;
  readonly principal: Principal | undefined;
  /** Aborted when the HTTP caller goes away before the answer is written. */
  readonly signal: AbortSignal;
}

export interface Route<Body = unknown> {
  readonly method: Method;
  /** OpenAPI template: `/sessions/{session_id}`. */
  readonly path: string;
  readonly summary: string;
  readonly tag: string;
  readonly body?: ZodType<Body>;
  /** An empty body is read as `{}` (the one-shot call of a tool without arguments). */
  readonly emptyBody?: boolean;
  readonly response?: ZodType;
  /** The status of a successful answer. @default 200 */
  readonly status?: number;
  /** `text/event-stream` instead of JSON (the handler writes it). */
  readonly stream?: boolean;
  /** Served without authentication (/openapi.json, /docs). */
  readonly public?: boolean;
  /** Statuses of the errors this route may answer with, for the document. */
  readonly errors?: readonly number[];
  /** The answer's JSON, or undefined when the handler has written the response itself. */
  handle(call: Call<Body>): Promise<unknown>;
}

/** Declares a route with its body type inferred from its schema. */
export function route<Body = undefined>(spec: Route<Body>): Route<unknown> {
  return spec as unknown as Route<unknown>;
}

interface Compiled {
  readonly route: Route;
  readonly pattern: RegExp;
  readonly names: readonly string[];
}

export class RouteTable {
  private readonly compiled: Compiled[];

  constructor(readonly routes: readonly Route[]) {
    this.compiled = routes.map((r) => {
      const names: string[] = [];
      const source = r.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, (_, n) => {
        names.push(n as string);
        return '([^/]+)';
      });
      return { route: r, pattern: new RegExp(`^${source}$`), names };
    });
  }

  /**
   * The route for `method` and `path` with its parameters; `allowed` lists the methods the path
   * takes when it matches none for this method (a 405), undefined when no route has the path.
   */
  match(
    method: string,
    path: string,
  ): { route: Route; params: Record<string, string> } | { allowed: Method[] } | undefined {
    const allowed: Method[] = [];
    for (const { route: r, pattern, names } of this.compiled) {
      const m = pattern.exec(path);
      if (!m) continue;
      if (r.method !== method && !(r.method === 'GET' && method === 'HEAD')) {
        allowed.push(r.method);
        continue;
      }
      const params: Record<string, string> = {};
      try {
        names.forEach((name, i) => (params[name] = decodeURIComponent(m[i + 1]!)));
      } catch {
        return undefined;
      }
      return { route: r, params };
    }
    return allowed.length > 0 ? { allowed } : undefined;
  }
}

/** The first problem zod found, as `field: what`, with the field in the error's data. */
export function invalidBody(
  issues: readonly { path: readonly PropertyKey[]; message: string }[],
): GatewayError {
  const issue = issues[0];
  const field =
    issue?.path
      .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
      .join('') || '(body)';
  return new GatewayError('GATEWAY_INVALID_REQUEST', `${field}: ${issue?.message ?? 'invalid'}`, {
    data: { field },
  });
}

/** Reads and validates a route's JSON body. */
export async function parseBody(req: IncomingMessage, r: Route, limit: number): Promise<unknown> {
  if (!r.body) return undefined;
  const type = req.headers['content-type'];
  const raw = await readBody(req, limit);
  let value: unknown;
  if (raw.length === 0) {
    if (!r.emptyBody)
      throw new GatewayError('GATEWAY_INVALID_REQUEST', '(body): expected a JSON object', {
        data: { field: '(body)' },
      });
    value = {};
  } else {
    if (type !== undefined && !/^application\/([\w.+-]*\+)?json\b/i.test(type))
      throw new GatewayError(
        'GATEWAY_UNSUPPORTED_MEDIA_TYPE',
        `expected content-type application/json, not ${type}`,
      );
    try {
      value = JSON.parse(raw.toString('utf8'));
    } catch (error) {
      throw new GatewayError('GATEWAY_PARSE_ERROR', (error as Error).message);
    }
  }
  const parsed = r.body.safeParse(value);
  if (!parsed.success) throw invalidBody(parsed.error.issues);
  return parsed.data;
}

/** The one place a REST failure becomes an answer: the gateway's error body, with the reply's status. */
export function sendRestError(res: ServerResponse, error: unknown): void {
  if (error instanceof ReplyError) {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendJson(res, error.status, { jsonrpc: '2.0', id: null, error: error.error });
    return;
  }
  sendHttpError(res, error);
}
