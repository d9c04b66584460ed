import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { auth, extractResourceMetadataUrl } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import type { Logger } from '../core/logger.js';
import type { CredentialsProvider } from './credentials.js';
import type { SecretStore } from './secrets.js';
import { withTimeout } from './link-requests.js';

/*
 * The MCP authorization flow for a remote that answers 401 with `resource_metadata`, as a
 * desktop client would run it: the protected resource's metadata (RFC 9728) names the
 * authorization server, whose metadata (RFC 8414) gives the endpoints; the connector registers
 * itself (RFC 7591) once, sends the person's browser to the authorization endpoint with PKCE,
 * takes the code on a loopback redirect (http://127.0.0.1:<port>/callback), and exchanges it.
 * The SDK's auth() does the protocol; this file keeps the state (client registration and tokens
 * in the secret store, the keychain or the 0600 file) and the loopback listener. Tokens are
 * refreshed with the refresh token before they expire; nothing secret is ever logged.
 */

export interface McpAuthorizationOptions {
  /** The remote's MCP endpoint. */
  serverUrl: string;
  store: SecretStore;
  log: Logger;
  /** Open the authorization URL in the system's browser; the URL is logged either way. @default true */
  openBrowser?: boolean;
  /** Loopback port of the redirect; 0 picks one (and keeps it for the registration). @default 0 */
  callbackPort?: number;
  /** How long the person may take to authorize. @default 300_000 */
  timeoutMs?: number;
  /** @default the authorization server's scopes_supported */
  scope?: string;
  /** Headers sent besides the token. @default {} */
  headers?: Record<string, string>;
}

interface Stored {
  client?: OAuthClientInformationMixed & { redirect_uris?: string[] };
  tokens?: OAuthTokens;
  /** When to refresh the tokens (ms since the epoch): before they expire, from `expires_in`. */
  refreshAt?: number;
}

/** Refresh this long before expiry, at most; half the lifetime for a short-lived token. */
const REFRESH_MARGIN_MS = 60_000;

export class McpAuthorization implements CredentialsProvider {
  private readonly key: string;
  private flow: Promise<boolean> | undefined;
  private verifier = '';
  private expectedState = '';

  constructor(private readonly options: McpAuthorizationOptions) {
    const origin = new URL(options.serverUrl);
    // One entry per remote endpoint; a name the secret store accepts.
    const digest = createHash('sha256').update(`${origin.origin}${origin.pathname}`).digest('hex');
    this.key = `mcp-oauth.${digest.slice(0, 32)}`;
  }

  async headers(): Promise<Record<string, string>> {
    let stored = this.load();
    const expiring = stored.refreshAt !== undefined && Date.now() > stored.refreshAt;
    if (stored.tokens && expiring && stored.tokens.refresh_token) {
      await this.authorize(undefined);
      stored = this.load();
    }
    return this.withToken(stored);
  }

  current(): Record<string, string> {
    return this.withToken(this.load());
  }

  describe(): string {
    return `the MCP authorization flow for ${new URL(this.options.serverUrl).origin} (tokens in the secret store under ${this.key})`;
  }

  /**
   * The remote answered 401: runs the flow (a refresh where a refresh token is had, else the
   * browser), once however many requests ask; true when there are tokens to try again with.
   */
  unauthorized(response: Response): Promise<boolean> {
    return this.authorize(extractResourceMetadataUrl(response));
  }

  private withToken(stored: Stored): Record<string, string> {
    const token = stored.tokens?.access_token;
    return { ...this.options.headers, ...(token && { Authorization: `Bearer ${token}` }) };
  }

  private authorize(resourceMetadataUrl: URL | undefined): Promise<boolean> {
    this.flow ??= this.run(resourceMetadataUrl).finally(() => (this.flow = undefined));
    return this.flow;
  }

  private async run(resourceMetadataUrl: URL | undefined): Promise<boolean> {
    const { serverUrl, scope, log } = this.options;
    const callback = await this.listen();
    try {
      const provider = this.provider(callback.redirectUri);
      let result = await auth(provider, { serverUrl, resourceMetadataUrl, scope });
      if (result === 'REDIRECT') {
        const code = await withTimeout(
          callback.code,
          this.options.timeoutMs ?? 300_000,
          'authorizing in the browser',
        );
        result = await auth(provider, {
          serverUrl,
          resourceMetadataUrl,
          scope,
          authorizationCode: code,
        });
      }
      log.info('authorized with the remote (MCP authorization flow)');
      return result === 'AUTHORIZED';
    } catch (error) {
      log.warn({ reason: (error as Error).message }, 'the MCP authorization flow failed');
      throw error;
    } finally {
      callback.close();
    }
  }

  private provider(redirectUri: string): OAuthClientProvider {
    const metadata: OAuthClientMetadata = {
      client_name: 'mcp-bridge connector',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      ...(this.options.scope && { scope: this.options.scope }),
    };
    return {
      redirectUrl: redirectUri,
      clientMetadata: metadata,
      state: () => (this.expectedState = randomBytes(16).toString('base64url')),
      clientInformation: () => {
        const client = this.load().client;
        // A registration for another redirect (the port was taken) is made again.
        return client?.redirect_uris && !client.redirect_uris.includes(redirectUri)
          ? undefined
          : client;
      },
      saveClientInformation: (client) => this.save({ client }),
      tokens: () => this.load().tokens,
      saveTokens: (tokens) =>
        this.save({
          tokens,
          refreshAt:
            typeof tokens.expires_in === 'number'
              ? Date.now() +
                tokens.expires_in * 1000 -
                Math.min(REFRESH_MARGIN_MS, tokens.expires_in * 500)
              : undefined,
        }),
      redirectToAuthorization: (url) => this.openAuthorization(url),
      saveCodeVerifier: (verifier) => void (this.verifier = verifier),
      codeVerifier: () => this.verifier,
      invalidateCredentials: (scope) => {
        if (scope === 'all')
          this.save({ client: undefined, tokens: undefined, refreshAt: undefined });
        if (scope === 'tokens') this.save({ tokens: undefined, refreshAt: undefined });
      },
    };
  }

  private openAuthorization(url: URL): void {
    // The URL carries no secret (the PKCE challenge is a hash); a person must see it to use it.
    this.options.log.warn(
      { url: url.toString() },
      'the remote needs you to sign in: open this URL in a browser',
    );
    if (this.options.openBrowser === false) return;
    const command =
      process.platform === 'darwin'
        ? 'open'
        : process.platform === 'win32'
          ? 'explorer'
          : 'xdg-open';
    const child = spawn(command, [url.toString()], { stdio: 'ignore', detached: true });
    child.on('error', () => {});
    child.unref();
  }

  private load(): Stored {
    const found = this.options.store.get(this.key);
    if (!found) return {};
    try {
      return JSON.parse(found.value) as Stored;
    } catch {
      return {};
    }
  }

  private save(change: Partial<Stored>): void {
    this.options.store.set(this.key, JSON.stringify({ ...this.load(), ...change }));
  }

  /** The loopback listener for the redirect, on the registered port when there is one. */
  private async listen(): Promise<{
    redirectUri: string;
    code: Promise<string>;
    close(): void;
  }> {
    let deliver!: (code: string) => void;
    let refuse!: (error: Error) => void;
    const code = new Promise<string>((resolve, reject) => {
      deliver = resolve;
      refuse = reject;
    });
    code.catch(() => {});
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (url.pathname !== '/callback') {
        res.writeHead(404).end();
        return;
      }
      const error = url.searchParams.get('error');
      const given = url.searchParams.get('code');
      const ok = !error && given && url.searchParams.get('state') === this.expectedState;
      res.writeHead(ok ? 200 : 400, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(
        ok
          ? 'mcp-bridge is authorized. You can close this window.'
          : 'mcp-bridge was not authorized.',
      );
      if (ok) deliver(given);
      else
        refuse(
          new Error(
            error
              ? `the authorization server said: ${error}`
              : 'the redirect came without a code or with another state',
          ),
        );
    });
    const registered = this.load().client?.redirect_uris?.[0];
    const wanted = registered ? Number(new URL(registered).port) : (this.options.callbackPort ?? 0);
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        // The registered port is taken: any port, and a new registration for it.
        if (error.code === 'EADDRINUSE' && wanted !== 0)
          server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
        else reject(error);
      });
      server.listen(wanted, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
    });
    return {
      redirectUri: `http://127.0.0.1:${port}/callback`,
      code,
      close: () => {
        server.closeAllConnections();
        server.close();
      },
    };
  }
}
