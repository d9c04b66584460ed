import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Principal } from '../core/policy.js';
import { GatewayError, toErrorReply } from '../core/errors.js';
import { channels } from '../core/diagnostics.js';
import { sendJson } from '../frontends/http-io.js';
import { endSocket, sendHttpError } from '../http/error-reply.js';
import { certificatePrincipal } from '../tls.js';
import { AuthError, Authenticator, missingScope } from './authenticator.js';
import type { AuthFailureReason } from './authenticator.js';

/*
 * The HTTP side of security, for every HTTP surface (Streamable HTTP, SSE, WebSocket upgrades,
 * the ops endpoints): Host and Origin checks against DNS rebinding and foreign pages, CORS for
 * the origins allowed, security headers, and authentication with the answers the MCP
 * authorization spec asks for (401 with WWW-Authenticate naming the resource metadata, 403
 * insufficient_scope naming the scope).
 */

export interface HttpGuardOptions {
  authenticator: Authenticator | undefined;
  /** Authentication is required on MCP paths. */
  required: boolean;
  /** Scopes every MCP request needs. */
  requiredScopes: readonly string[];
  /** Host names requests may name; empty: any. */
  allowedHosts: readonly string[];
  /** Origins (scheme://host[:port]) allowed besides the gateway's own; `*` for any. */
  allowedOrigins: readonly string[];
  /** OAuth authorization servers to list in the protected-resource metadata. */
  authorizationServers: readonly string[];
  scopesSupported: readonly string[];
  securityContact: string;
}

/** This gateway's origin as the client reached it: https under TLS. */
function originOf(req: IncomingMessage): string {
  const secure = (req.socket as { encrypted?: boolean }).encrypted === true;
  return `${secure ? 'https' : 'http'}://${req.headers.host ?? 'localhost'}`;
}

function hostnameOf(host: string | undefined): string | undefined {
  if (!host) return undefined;
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1).toLowerCase();
  const colon = host.lastIndexOf(':');
  return (colon === -1 ? host : host.slice(0, colon)).toLowerCase();
}

/** Segments of letters, digits and `-._~`, none of them `.` or `..`. */
const PLAIN_PATH = /^(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9._~-]+)+$/;

/** Why a request was refused, kept on it until `refuse` answers. */
interface AuthFailure {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}
type FailedRequest = IncomingMessage & { authFailure?: AuthFailure };

const setFailure = (req: IncomingMessage, failure: AuthFailure) => {
  (req as FailedRequest).authFailure = failure;
};

/** Paths a health check may reach without a Host header. */
const PROBE_PATHS = new Set(['/ready', '/healthz']);

export class HttpGuard {
  readonly failures: Partial<
    Record<AuthFailureReason | 'host' | 'origin' | 'session_owner' | 'unavailable', number>
  > = {};

  constructor(private readonly options: HttpGuardOptions) {}

  private count(reason: keyof HttpGuard['failures']): void {
    this.failures[reason] = (this.failures[reason] ?? 0) + 1;
  }

  /** A reason to refuse the request's Host or Origin, or undefined. */
  private refuseOrigin(
    req: IncomingMessage,
  ): { reason: 'host' | 'origin'; message: string } | undefined {
    const hosts = this.options.allowedHosts;
    // A load balancer's health check (HAProxy's `option httpchk` speaks HTTP/1.0 without a
    // Host) may probe /ready and /healthz: no browser sends a request without Host, so this
    // opens nothing to DNS rebinding, and those two paths say nothing a caller could misuse.
    if (req.headers.host === undefined && PROBE_PATHS.has((req.url ?? '').split('?', 1)[0]!))
      return undefined;
    const host = hostnameOf(req.headers.host);
    if (hosts.length > 0 && (!host || !hosts.includes(host))) {
      return { reason: 'host', message: `Host "${req.headers.host ?? ''}" is not served here` };
    }
    const origin = req.headers.origin;
    // `Origin: null` comes from sandboxed iframes and file: or data: pages, which any site can
    // open: foreign, not absent, unless listed by name (`*` does not cover it).
    if (origin === undefined || this.originAllowed(origin, req)) return undefined;
    return { reason: 'origin', message: `Origin "${origin}" is not allowed` };
  }

  private originAllowed(origin: string, req: IncomingMessage): boolean {
    const allowed = this.options.allowedOrigins;
    if (allowed.includes(origin)) return true;
    if (origin === 'null') return false;
    if (allowed.includes('*')) return true;
    try {
      return new URL(origin).host === req.headers.host;
    } catch {
      return false;
    }
  }

  /**
   * Sets CORS headers, answers CORS preflights, refuses foreign hosts and origins (the security
   * headers come with every response: SecureResponse).
   * False when it has answered the request itself.
   */
  admit(req: IncomingMessage, res: ServerResponse): boolean {
    const refused = this.refuseOrigin(req);
    if (refused) {
      this.count(refused.reason);
      sendHttpError(res, new GatewayError('GATEWAY_FORBIDDEN', refused.message));
      return false;
    }
    const origin = req.headers.origin;
    if (origin) {
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('vary', 'Origin');
      res.setHeader(
        'access-control-expose-headers',
        'mcp-session-id, www-authenticate, retry-after',
      );
      if (req.method === 'OPTIONS') {
        res.writeHead(204, {
          'access-control-allow-methods': 'GET, POST, DELETE, OPTIONS',
          'access-control-allow-headers':
            'content-type, authorization, x-api-key, mcp-session-id, mcp-protocol-version, last-event-id',
          'access-control-max-age': '600',
        });
        res.end();
        return false;
      }
    }
    return true;
  }

  /** The same Host and Origin checks for a WebSocket upgrade; false when it refused it. */
  admitUpgrade(req: IncomingMessage, socket: Duplex): boolean {
    const refused = this.refuseOrigin(req);
    if (!refused) return true;
    this.count(refused.reason);
    sendHttpError(socket, new GatewayError('GATEWAY_FORBIDDEN', refused.message));
    return false;
  }

  private metadataUrl(req: IncomingMessage, path: string): string {
    return `${originOf(req)}/.well-known/oauth-protected-resource${path}`;
  }

  /**
   * Authenticates a request to an MCP path. Returns the principal (undefined when no auth is
   * configured), or false after answering 401/403 itself. A verified client certificate (mTLS)
   * is the principal when the request carries no API key or bearer token to check instead.
   */
  async authenticate(
    req: IncomingMessage,
    path: string,
    transport: string,
  ): Promise<Principal | undefined | false> {
    const authenticator = this.options.authenticator;
    const credential = Authenticator.credential(req.headers);
    const certified = certificatePrincipal(req.socket);
    if (certified && (credential === undefined || !authenticator)) {
      if (channels.authSuccess.hasSubscribers) {
        channels.authSuccess.publish({ principal: certified.id, via: 'certificate', transport });
      }
      return certified;
    }
    if (!authenticator) return undefined;
    if (!this.options.required && credential === undefined) return undefined;
    try {
      const principal = await authenticator.verify(credential, transport);
      const missing = missingScope(principal, this.options.requiredScopes);
      if (missing)
        throw new AuthError(
          'insufficient_scope',
          `the token lacks the scope "${missing}"`,
          missing,
        );
      if (channels.authSuccess.hasSubscribers) {
        const claims = principal.claims;
        const via =
          claims?.keyId !== undefined
            ? 'api-key'
            : claims?.active === true
              ? 'introspection'
              : 'jwt';
        channels.authSuccess.publish({ principal: principal.id, via, transport });
      }
      return principal;
    } catch (error) {
      if (error instanceof GatewayError && error.code === 'GATEWAY_AUTH_UNAVAILABLE') {
        // Not the caller's fault: no challenge, and a hint of when to try again.
        this.count('unavailable');
        setFailure(req, {
          status: error.status,
          headers: { 'retry-after': String(error.data?.retryAfter ?? 5) },
          body: { ...toErrorReply(null, error), reason: 'unavailable' },
        });
        return false;
      }
      if (!(error instanceof AuthError)) throw error;
      this.count(error.reason);
      const metadata = `resource_metadata="${this.metadataUrl(req, path)}"`;
      const challenge =
        error.reason === 'insufficient_scope'
          ? `Bearer error="insufficient_scope", scope="${error.scope}", ${metadata}`
          : error.reason === 'missing'
            ? `Bearer ${metadata}`
            : `Bearer error="invalid_token", error_description="${error.message.replace(/"/g, "'")}", ${metadata}`;
      setFailure(req, {
        status: error.status,
        headers: { 'www-authenticate': challenge },
        body: { ...toErrorReply(null, error), reason: error.reason },
      });
      return false;
    }
  }

  /** Answers a request whose authentication failed (the HTTP reply). */
  refuse(req: IncomingMessage, res: ServerResponse): void {
    const failure = (req as FailedRequest).authFailure!;
    sendJson(res, failure.status, failure.body, failure.headers);
  }

  /** Answers a refused WebSocket upgrade: the same status, challenge and body as `refuse`. */
  refuseUpgrade(req: IncomingMessage, socket: Duplex): void {
    const failure = (req as FailedRequest).authFailure!;
    endSocket(socket, failure.status, JSON.stringify(failure.body), failure.headers);
  }

  /** Session hijack guard: a session may only be used by the caller that opened it. */
  ownerMismatch(owner: Principal | undefined, caller: Principal | undefined): boolean {
    const mismatch = owner !== undefined && owner.id !== caller?.id;
    if (mismatch) this.count('session_owner');
    return mismatch;
  }

  /** RFC 9728 metadata and security.txt; false when `path` is neither. */
  wellKnown(path: string, req: IncomingMessage, res: ServerResponse): boolean {
    if (path === '/.well-known/security.txt') {
      const body = `Contact: ${this.options.securityContact}\nExpires: ${new Date(Date.now() + 365 * 86_400_000).toISOString()}\nPreferred-Languages: en\n`;
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(body);
      return true;
    }
    const prefix = '/.well-known/oauth-protected-resource';
    if (path !== prefix && !path.startsWith(`${prefix}/`)) return false;
    const resourcePath = path.slice(prefix.length) || '/mcp';
    // The path is written into the document as the resource: only a plain one (no `.` or `..`
    // segment, no empty one, nothing encoded) is; anything else is not a resource here (404).
    if (!PLAIN_PATH.test(resourcePath)) return false;
    sendJson(res, 200, {
      resource: `${originOf(req)}${resourcePath}`,
      authorization_servers: this.options.authorizationServers,
      scopes_supported: this.options.scopesSupported,
      bearer_methods_supported: ['header'],
      resource_name: 'mcp-bridge',
    });
    return true;
  }
}
