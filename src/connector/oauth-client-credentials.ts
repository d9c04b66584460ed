import type { Logger } from '../core/logger.js';
import type { CredentialsProvider } from './credentials.js';

/*
 * OAuth 2.0 client credentials (RFC 6749 §4.4) for the connector: a token from the
 * authorization server's token endpoint, sent as `Authorization: Bearer`, and a new one fetched
 * before the old one expires, in the background, so that no request waits for it or goes out
 * with a token about to lapse. Neither the client secret nor a token is ever logged: errors say
 * what the endpoint answered (its `error` and `error_description`), nothing it was sent.
 */

export interface ClientCredentialsOptions {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  /** @default undefined */
  scope?: string;
  /** RFC 8707 `resource`. @default undefined */
  resource?: string;
  /** `basic` (HTTP Basic, RFC 6749 §2.3.1) or `body` (client_id and client_secret in the form). @default 'basic' */
  clientAuth?: 'basic' | 'body';
  /** Fetch a new token this long before the current one expires (at most half its lifetime). @default 60_000 */
  refreshBeforeMs?: number;
  /** Headers sent besides the token. @default {} */
  headers?: Record<string, string>;
  log: Logger;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** @default Date.now */
  now?: () => number;
}

interface Token {
  value: string;
  /** When to fetch the next one (ms since the epoch); Infinity without `expires_in`. */
  refreshAt: number;
  expiresAt: number;
}

/** What went wrong with the token endpoint; never carries a secret. */
export class TokenEndpointError extends Error {
  override readonly name = 'TokenEndpointError';
}

export class ClientCredentials implements CredentialsProvider {
  private token: Token | undefined;
  private pending: Promise<Token> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Tokens obtained so far (for logs and tests). */
  fetched = 0;

  constructor(private readonly options: ClientCredentialsOptions) {}

  async headers(): Promise<Record<string, string>> {
    const now = (this.options.now ?? Date.now)();
    const token = this.token && now < this.token.refreshAt ? this.token : await this.refresh();
    return { ...this.options.headers, Authorization: `Bearer ${token.value}` };
  }

  current(): Record<string, string> {
    return {
      ...this.options.headers,
      ...(this.token && { Authorization: `Bearer ${this.token.value}` }),
    };
  }

  describe(): string {
    const names = Object.keys(this.options.headers ?? {});
    return `${names.length > 0 ? `headers ${names.join(', ')} and ` : ''}OAuth client credentials of client ${this.options.clientId} from ${this.options.tokenUrl}`;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  /** One request to the token endpoint at a time; callers meanwhile share its answer. */
  private refresh(): Promise<Token> {
    this.pending ??= this.request().finally(() => (this.pending = undefined));
    return this.pending;
  }

  private async request(): Promise<Token> {
    const { tokenUrl, clientId, clientSecret, scope, resource, log } = this.options;
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (scope) form.set('scope', scope);
    if (resource) form.set('resource', resource);
    const headers: Record<string, string> = {
      'Content-Type': 'application/x-www-form-urlencoded',
      Accept: 'application/json',
    };
    if ((this.options.clientAuth ?? 'basic') === 'basic') {
      // RFC 6749 §2.3.1: each part form-urlencoded before Base64.
      const pair = `${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`;
      headers.Authorization = `Basic ${Buffer.from(pair).toString('base64')}`;
    } else {
      form.set('client_id', clientId);
      form.set('client_secret', clientSecret);
    }
    const started = (this.options.now ?? Date.now)();
    let response: Response;
    try {
      response = await (this.options.fetch ?? fetch)(tokenUrl, {
        method: 'POST',
        headers,
        body: form.toString(),
        signal: AbortSignal.timeout(10_000),
      });
    } catch (error) {
      throw new TokenEndpointError(
        `the token endpoint ${tokenUrl} could not be reached: ${(error as Error).message}`,
      );
    }
    const text = await response.text().catch(() => '');
    let body: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === 'object' && parsed !== null) body = parsed as Record<string, unknown>;
    } catch {
      // Reported below with the status.
    }
    if (!response.ok || typeof body.access_token !== 'string' || !body.access_token) {
      const said = [body.error, body.error_description].filter((v) => typeof v === 'string');
      throw new TokenEndpointError(
        `the token endpoint ${tokenUrl} answered HTTP ${response.status}${said.length > 0 ? `: ${said.join(': ')}` : response.ok ? ' without an access_token' : ''}`,
      );
    }
    const lifetimeMs =
      typeof body.expires_in === 'number' && body.expires_in > 0
        ? body.expires_in * 1000
        : undefined;
    const margin = Math.min(this.options.refreshBeforeMs ?? 60_000, (lifetimeMs ?? 0) / 2);
    const token: Token = {
      value: body.access_token,
      expiresAt: lifetimeMs === undefined ? Infinity : started + lifetimeMs,
      refreshAt: lifetimeMs === undefined ? Infinity : started + lifetimeMs - margin,
    };
    this.token = token;
    this.fetched++;
    log.debug(
      { client: clientId, expiresInMs: lifetimeMs ?? null, tokens: this.fetched },
      'obtained an access token (client credentials)',
    );
    this.schedule(token, started);
    return token;
  }

  /** Fetches the next token in the background before this one lapses. */
  private schedule(token: Token, now: number): void {
    clearTimeout(this.timer);
    if (this.closed || token.refreshAt === Infinity) return;
    this.timer = setTimeout(
      () => {
        this.refresh().catch((error: unknown) => {
          // The current token may still be good; the next request tries again.
          this.options.log.warn(
            { reason: (error as Error).message },
            'could not refresh the access token',
          );
          if (this.token === token) this.token = { ...token, refreshAt: 0 };
        });
      },
      Math.max(0, token.refreshAt - now),
    );
    this.timer.unref();
  }
}
