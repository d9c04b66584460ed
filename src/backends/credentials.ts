import type { BackendTransport } from './transport.js';
import { createHash } from 'node:crypto';
import type { TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '../core/jsonrpc.js';
import type { Principal } from '../core/policy.js';
import { GatewayError } from '../core/errors.js';

/*
 * What a backend is told of the caller. `passthrough` hands on the caller's own token (the MCP
 * authorization spec discourages it: the backend then accepts a token that was not issued for
 * it). `exchange` trades it at a token endpoint (RFC 8693) for one that is, and caches the
 * result until shortly before it expires.
 */

export type CredentialsConfig =
  | { type: 'none' }
  | { type: 'passthrough' }
  | {
      type: 'exchange';
      tokenUrl: string;
      clientId: string;
      clientSecret: string;
      audience?: string;
      scope?: string;
    };

const CALLER_TOKEN = Symbol('mcp-bridge.callerToken');

/** Keeps the caller's raw token with its principal, out of sight of logs and JSON. */
export function withCallerToken(principal: Principal, token: string): Principal {
  Object.defineProperty(principal, CALLER_TOKEN, { value: token, enumerable: false });
  return principal;
}

function callerToken(principal: Principal | undefined): string | undefined {
  return (principal as unknown as Record<symbol, string> | undefined)?.[CALLER_TOKEN];
}

/** Renew an exchanged token this long before it expires. */
const EARLY_MS = 30_000;

export class BackendCredentials {
  private readonly cache = new Map<string, { token: string; until: number }>();

  constructor(
    private readonly backend: string,
    private readonly config: CredentialsConfig,
  ) {}

  get needed(): boolean {
    return this.config.type !== 'none';
  }

  /** The Authorization header value for a session of `principal`, if any. */
  async authorization(principal: Principal | undefined): Promise<string | undefined> {
    if (this.config.type === 'none') return undefined;
    const token = callerToken(principal);
    if (!token) {
      throw new GatewayError(
        'GATEWAY_UNAUTHORIZED',
        `${this.backend} needs the caller's credentials, and this session has none`,
      );
    }
    if (this.config.type === 'passthrough') return `Bearer ${token}`;
    return `Bearer ${await this.exchange(token, this.config)}`;
  }

  private async exchange(
    subject: string,
    config: Extract<CredentialsConfig, { type: 'exchange' }>,
  ): Promise<string> {
    const key = createHash('sha256').update(subject).digest('hex');
    const cached = this.cache.get(key);
    if (cached && cached.until > Date.now()) return cached.token;
    const form = new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: subject,
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    });
    if (config.audience) form.set('audience', config.audience);
    if (config.scope) form.set('scope', config.scope);
    let response: Response;
    try {
      response = await fetch(config.tokenUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${encodeURIComponent(config.clientId)}:${encodeURIComponent(config.clientSecret)}`).toString('base64')}`,
        },
        body: form,
        signal: AbortSignal.timeout(10_000),
      });
    } catch (error) {
      throw new GatewayError(
        'GATEWAY_BACKEND_UNAVAILABLE',
        `${this.backend}: the token endpoint could not be reached: ${(error as Error).message}`,
      );
    }
    const body = (await response.json().catch(() => ({}))) as {
      access_token?: unknown;
      expires_in?: unknown;
      error?: unknown;
    };
    if (!response.ok || typeof body.access_token !== 'string') {
      const why = typeof body.error === 'string' ? body.error : `HTTP ${response.status}`;
      throw new GatewayError(
        'GATEWAY_UNAUTHORIZED',
        `${this.backend}: the token exchange was refused (${why})`,
      );
    }
    const lifetime = typeof body.expires_in === 'number' ? body.expires_in * 1000 : 300_000;
    this.cache.set(key, { token: body.access_token, until: Date.now() + lifetime - EARLY_MS });
    return body.access_token;
  }
}

/**
 * A backend transport made once the session's credentials are known: exchanging a token is
 * asynchronous, and the HTTP transports take their headers when they are made.
 */
export class CredentialedTransport implements BackendTransport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  private inner: BackendTransport | undefined;

  constructor(
    private readonly credentials: BackendCredentials,
    private readonly principal: Principal | undefined,
    private readonly make: (headers: Record<string, string>) => BackendTransport,
  ) {}

  async start(): Promise<void> {
    const authorization = await this.credentials.authorization(this.principal);
    const inner = this.make(authorization ? { authorization } : {});
    this.inner = inner;
    inner.onmessage = (message) => this.onmessage?.(message);
    inner.onerror = (error) => this.onerror?.(error);
    inner.onclose = () => this.onclose?.();
    await inner.start();
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (!this.inner)
      return Promise.reject(new GatewayError('GATEWAY_BACKEND_UNAVAILABLE', 'not connected'));
    return this.inner.send(message, options);
  }

  setProtocolVersion(version: string): void {
    this.inner?.setProtocolVersion?.(version);
  }

  unavailable(): GatewayError {
    return (
      this.inner?.unavailable() ??
      new GatewayError('GATEWAY_BACKEND_UNAVAILABLE', 'the backend connection closed')
    );
  }

  async close(): Promise<void> {
    await this.inner?.close();
  }
}
