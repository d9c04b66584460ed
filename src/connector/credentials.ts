/*
 * Where the connector's credentials come from. Asked on every (re)connect, so that a provider
 * that refreshes (OAuth client credentials, the MCP authorization flow, a keychain entry) slots
 * in behind the same interface without the connector changing.
 */

export interface CredentialsProvider {
  /** Headers for the next connection: HTTP requests, the WebSocket upgrade, TCP's `auth_token`. */
  headers(): Promise<Record<string, string>>;
  /**
   * The headers as they stand now, without waiting: for what is sent on an open connection
   * (TCP's per-frame `auth_token`), kept fresh by a provider that refreshes in the background.
   */
  current(): Record<string, string>;
  /** Stops any refresh timer. */
  close?(): void;
  /**
   * The remote answered an HTTP request with 401: get credentials it may take (the MCP
   * authorization flow); true when the request should be sent again.
   */
  unauthorized?(response: Response): Promise<boolean>;
  /** What a log may say of these credentials (never a secret). */
  describe(): string;
}

export interface StaticCredentialsOptions {
  /** Headers sent as given (`--header 'K: V'`). @default {} */
  headers?: Record<string, string>;
  /** Sent as `Authorization: Bearer <token>` (from `--bearer-token-env NAME`). @default undefined */
  bearerToken?: string;
  /** Where the token came from, for logs. @default undefined */
  bearerTokenSource?: string;
}

/** Fixed headers and an optional bearer token. */
export class StaticCredentials implements CredentialsProvider {
  private readonly fixed: Record<string, string>;

  constructor(private readonly options: StaticCredentialsOptions = {}) {
    this.fixed = { ...options.headers };
    if (options.bearerToken !== undefined)
      this.fixed.Authorization = `Bearer ${options.bearerToken}`;
  }

  async headers(): Promise<Record<string, string>> {
    return { ...this.fixed };
  }

  current(): Record<string, string> {
    return { ...this.fixed };
  }

  describe(): string {
    const names = Object.keys(this.options.headers ?? {});
    const parts: string[] = [];
    if (names.length > 0) parts.push(`headers ${names.join(', ')}`);
    if (this.options.bearerToken !== undefined)
      parts.push(`a bearer token from ${this.options.bearerTokenSource ?? 'the command line'}`);
    return parts.length > 0 ? parts.join(' and ') : 'no credentials';
  }
}

/** Parses one `--header 'Name: value'`; throws with the reason for anything else. */
export function parseHeader(text: string): [string, string] {
  const colon = text.indexOf(':');
  const name = colon > 0 ? text.slice(0, colon).trim() : '';
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name))
    throw new Error(`--header: expected "Name: value", got "${text.slice(0, 40)}"`);
  const value = text.slice(colon + 1).trim();
  if (/[\r\n]/.test(value)) throw new Error(`--header ${name}: a value may not contain a newline`);
  return [name, value];
}
