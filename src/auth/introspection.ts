import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Principal } from '../core/context.js';
import { GatewayError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { ThrottledWarning } from '../core/throttled-warning.js';
import { AuthError } from './authenticator.js';

/*
 * Opaque bearer tokens checked by the authorization server that issued them (OAuth 2.0 token
 * introspection, RFC 7662). The gateway authenticates itself to the endpoint as a client and
 * asks about one token at a time; the answer's `active`, `exp`, `nbf`, `aud`, `iss` and `scope`
 * decide, and `sub` (else `client_id`) names the caller. Answers are kept, keyed by the token's
 * SHA-256 so that the cache holds no secret: an active token until the sooner of its `exp` and
 * `cacheTtlMs`, a refused one for `negativeCacheMs` (a client retrying a dead token must not
 * hammer the server). An endpoint that cannot answer fails closed with GATEWAY_AUTH_UNAVAILABLE
 * (503), never with a pass, and is not cached: the next request asks again.
 */

export interface IntrospectionOptions {
  /** The introspection endpoint (RFC 7662 section 2). */
  url: string;
  /** The gateway's client id at the authorization server. */
  clientId: string;
  clientSecret: string;
  /**
   * How the gateway authenticates itself: HTTP Basic (`client_secret_basic`) or the id and
   * secret in the form body (`client_secret_post`). @default 'basic'
   */
  clientAuth: 'basic' | 'post';
  /** Longest wait for an answer; past it the request gets 503. @default 5000 */
  timeoutMs: number;
  /** Longest an active answer is kept (it is never kept past the token's `exp`); 0: not kept. @default 300000 */
  cacheTtlMs: number;
  /** How long an inactive (or otherwise refused) token's answer is kept; 0: not kept. @default 10000 */
  negativeCacheMs: number;
  /** Most answers kept; the least recently used go first. @default 10000 */
  maxEntries: number;
  /** A token must name one of these in `aud`, when given. */
  audience?: string | readonly string[];
  /** A token's `iss` must be this, when given. */
  issuer?: string;
  /** The field naming the caller; `client_id` is used when the token has none. @default 'sub' */
  principalClaim: string;
  /** Allowed clock difference for `exp` and `nbf`, in seconds. @default 30 */
  clockToleranceSec: number;
  log: Logger;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
}

type Verdict = { principal: Principal } | { refused: AuthError };

const tokenKey = (token: string) => createHash('sha256').update(token).digest('base64url');

function audiences(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((a): a is string => typeof a === 'string');
  return [];
}

export class TokenIntrospector {
  private readonly cache: LRUCache<string, Verdict>;
  /** Lookups under way, so that a burst of requests with one new token asks once. */
  private readonly pending = new Map<string, Promise<Verdict>>();
  private readonly warning: ThrottledWarning;
  private readonly authorization: string | undefined;

  constructor(private readonly options: IntrospectionOptions) {
    this.cache = new LRUCache({ max: options.maxEntries });
    this.warning = new ThrottledWarning(
      options.log,
      'token introspection endpoint unavailable: requests are refused with 503',
    );
    // RFC 6749 section 2.3.1: both parts form-encoded before they are joined.
    this.authorization =
      options.clientAuth === 'basic'
        ? `Basic ${Buffer.from(
            `${encodeURIComponent(options.clientId)}:${encodeURIComponent(options.clientSecret)}`,
          ).toString('base64')}`
        : undefined;
  }

  /** The caller `token` stands for; throws AuthError (401) or GATEWAY_AUTH_UNAVAILABLE (503). */
  async verify(token: string): Promise<Principal> {
    const key = tokenKey(token);
    let verdict = this.cache.get(key);
    if (verdict === undefined) {
      let lookup = this.pending.get(key);
      if (lookup === undefined) {
        lookup = this.lookUp(key, token).finally(() => this.pending.delete(key));
        this.pending.set(key, lookup);
      }
      verdict = await lookup;
    }
    if ('refused' in verdict) throw verdict.refused;
    // A kept answer is dropped at the token's exp already; this covers a clock that jumped.
    const exp = verdict.principal.claims?.exp;
    if (typeof exp === 'number' && exp * 1000 <= Date.now()) {
      this.cache.delete(key);
      throw new AuthError('expired', 'the token has expired');
    }
    return verdict.principal;
  }

  private async lookUp(key: string, token: string): Promise<Verdict> {
    const answer = await this.ask(token);
    const verdict = this.judge(answer);
    const now = Date.now();
    if ('refused' in verdict) {
      if (this.options.negativeCacheMs > 0)
        this.cache.set(key, verdict, { ttl: this.options.negativeCacheMs });
    } else {
      const exp = verdict.principal.claims?.exp;
      const untilExp = typeof exp === 'number' ? exp * 1000 - now : Infinity;
      const ttl = Math.min(this.options.cacheTtlMs, untilExp);
      if (ttl >= 1) this.cache.set(key, verdict, { ttl: Math.floor(ttl) });
    }
    return verdict;
  }

  /** The endpoint's answer as an object; GATEWAY_AUTH_UNAVAILABLE for anything else. */
  private async ask(token: string): Promise<Record<string, unknown>> {
    const { url, clientId, clientSecret, timeoutMs } = this.options;
    const form = new URLSearchParams({ token, token_type_hint: 'access_token' });
    if (this.authorization === undefined) {
      form.set('client_id', clientId);
      form.set('client_secret', clientSecret);
    }
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    if (this.authorization !== undefined) headers.authorization = this.authorization;
    let problem: string;
    try {
      const res = await (this.options.fetch ?? fetch)(url, {
        method: 'POST',
        headers,
        body: form.toString(),
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'error',
      });
      if (res.ok) {
        const body: unknown = await res.json().catch(() => undefined);
        if (
          typeof body === 'object' &&
          body !== null &&
          typeof (body as { active?: unknown }).active === 'boolean'
        )
          return body as Record<string, unknown>;
        problem = 'the answer is not a JSON object with a boolean "active"';
      } else {
        await res.body?.cancel();
        problem = `HTTP ${res.status}`;
      }
    } catch (error) {
      // Messages of fetch name the URL and the network failure, never the request body.
      const e = error as Error;
      problem =
        e.name === 'TimeoutError'
          ? `no answer within ${timeoutMs} ms`
          : ((e.cause as Error)?.message ?? e.message);
    }
    this.warning.warn({ endpoint: url, problem });
    throw new GatewayError(
      'GATEWAY_AUTH_UNAVAILABLE',
      'the token could not be checked: the introspection endpoint did not answer (try again later)',
      { data: { retryAfter: 5 } },
    );
  }

  private judge(answer: Record<string, unknown>): Verdict {
    const refuse = (reason: AuthError['reason'], detail: string): Verdict => ({
      refused: new AuthError(reason, detail),
    });
    if (answer.active !== true) return refuse('invalid_token', 'the token is not active');
    const now = Date.now() / 1000;
    const tolerance = this.options.clockToleranceSec;
    if (typeof answer.exp === 'number' && answer.exp + tolerance <= now)
      return refuse('expired', 'the token has expired');
    if (typeof answer.nbf === 'number' && answer.nbf - tolerance > now)
      return refuse('invalid_token', 'the token is not valid yet (nbf)');
    const wanted = this.options.audience;
    if (wanted !== undefined) {
      const accepted = audiences(wanted);
      if (!audiences(answer.aud).some((a) => accepted.includes(a)))
        return refuse('wrong_audience', 'the token is not meant for this gateway (aud)');
    }
    if (this.options.issuer !== undefined && answer.iss !== this.options.issuer)
      return refuse(
        'wrong_issuer',
        'the token was issued by an issuer this gateway does not trust (iss)',
      );
    const claim = this.options.principalClaim;
    const id = [answer[claim], answer.client_id].find(
      (v): v is string => typeof v === 'string' && v !== '',
    );
    if (id === undefined)
      return refuse('invalid_token', `the token does not name its caller (${claim} or client_id)`);
    const scopes = typeof answer.scope === 'string' ? answer.scope.split(' ').filter(Boolean) : [];
    return { principal: { id, scopes, claims: answer } };
  }
}
