import { z } from 'zod';
import { envName } from '../config/fields.js';
import { httpUrl } from '../config/backend-schema.js';
import { CONNECT_TRANSPORTS, oneOf, transportsFor } from './remote-link.js';

/*
 * The one schema of the connector's configuration (`mcp-bridge connect --config F`). Defaults
 * live here and nowhere else; the file and `connect`'s flags are merged (flags win) before the
 * result is parsed once. Durations are in milliseconds.
 */

/** A keychain entry's name (`connect store-token --key NAME`). */
/** The connector's log levels (pino's, and `silent`). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const SECRET_KEY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * A secret: the text itself (best written as `${VAR}`), `{ env: NAME }` (read at start),
 * `{ key: NAME }` (the OS keychain, or the 0600 fallback file, under that name) or
 * `{ file: PATH }` (the file's text, without its trailing newline, read at start).
 */
export const secretSchema = z.union([
  z.string().min(1, 'expected a non-empty secret'),
  z.object({ env: z.string().regex(envName, 'expected an environment variable name') }).strict(),
  z
    .object({
      key: z.string().regex(SECRET_KEY, 'expected a key name of letters, digits, ".", "_" and "-"'),
    })
    .strict(),
  z.object({ file: z.string().min(1, 'expected a file path') }).strict(),
]);
export type SecretRef = z.infer<typeof secretSchema>;

const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected a header name');
const headerValue = z.string().regex(/^[^\r\n]*$/, 'a header value may not contain a newline');

const authSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('none') }).strict(),
  /** `Authorization: Bearer <token>` (over TCP: each request frame's `auth_token`). */
  z.object({ type: z.literal('bearer'), token: secretSchema }).strict(),
  /** OAuth 2.0 client credentials (RFC 6749 §4.4), refreshed before the token expires. */
  z
    .object({
      type: z.literal('oauth-client-credentials'),
      /** The authorization server's token endpoint. */
      tokenUrl: httpUrl,
      clientId: z.string().min(1),
      clientSecret: secretSchema,
      scope: z.string().min(1).optional(),
      /** RFC 8707 `resource` (the gateway, as the token's audience). */
      resource: z.string().min(1).optional(),
      /** `basic`: HTTP Basic (RFC 6749 §2.3.1, the default); `body`: in the form. */
      clientAuth: z.enum(['basic', 'body']).default('basic'),
      /** Refresh this long before expiry (at most half the token's lifetime). */
      refreshBeforeMs: z.number().int().min(0).default(60_000),
    })
    .strict(),
  /**
   * The MCP authorization flow (Streamable HTTP and SSE remotes that answer 401 with
   * `resource_metadata`): discovery, dynamic client registration, PKCE in the browser, tokens
   * kept in the secret store and refreshed.
   */
  z
    .object({
      type: z.literal('oauth'),
      /** Open the sign-in page in the browser (it is logged either way). */
      openBrowser: z.boolean().default(true),
      /** Loopback port of the redirect; 0 picks one and keeps it for the registration. */
      callbackPort: z.number().int().min(0).max(65535).default(0),
      /** Longest a sign-in may take. */
      timeoutMs: z.number().int().min(1000).default(300_000),
      scope: z.string().min(1).optional(),
    })
    .strict(),
]);

const tlsSchema = z
  .object({
    /** Client certificate chain (mTLS): a PEM file path, or the PEM text. */
    cert: z.string().min(1).optional(),
    /** Its private key: a PEM file path, or the PEM text (or a secret reference). */
    key: secretSchema.optional(),
    /** CAs to trust for the remote's certificate, instead of the system's. */
    ca: z.string().min(1).optional(),
    /** Name to check the remote's certificate against, when not the URL's host. */
    servername: z.string().min(1).optional(),
  })
  .strict()
  .refine((tls) => (tls.cert === undefined) === (tls.key === undefined), {
    message: 'expected both cert and key (a client certificate needs its key), or neither',
  });

export const remoteSchema = z
  .object({
    /** The gateway or server: http(s)://, ws(s):// or tcp(s)://. */
    url: z.string().min(1),
    /** By the URL's scheme when left out: `auto` for http(s). */
    transport: z.enum(CONNECT_TRANSPORTS).optional(),
    /** Sent with every HTTP request and the WebSocket upgrade. */
    headers: z.record(headerName, headerValue).default({}),
    auth: authSchema.default({ type: 'none' }),
    tls: tlsSchema.optional(),
  })
  .strict()
  .superRefine((remote, ctx) => {
    let url: URL;
    try {
      url = new URL(remote.url);
    } catch {
      ctx.addIssue({
        code: 'custom',
        path: ['url'],
        message: `expected an absolute http(s)://, ws(s):// or tcp(s):// URL, got "${remote.url}"`,
      });
      return;
    }
    let allowed;
    try {
      allowed = transportsFor(url).allowed;
    } catch (error) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: (error as Error).message });
      return;
    }
    const transport = remote.transport;
    if (transport !== undefined && transport !== 'auto' && !allowed.includes(transport)) {
      ctx.addIssue({
        code: 'custom',
        path: ['transport'],
        message: `${transport} cannot reach a ${url.protocol}// URL (it takes ${oneOf(allowed)})`,
      });
    }
  });

/** Direct mode: a local stdio MCP server that the connector runs, and restarts when it dies. */
const directSchema = z
  .object({
    command: z.string().min(1),
    args: z.array(z.string()).default([]),
    /** Added to a safe default environment (PATH, HOME, USER, ...). */
    env: z.record(z.string().regex(envName, 'expected a variable name'), z.string()).default({}),
    cwd: z.string().min(1).optional(),
  })
  .strict();

export const connectorConfigSchema = z
  .object({
    /** The gateway or server to reach (or `direct`). */
    remote: remoteSchema.optional(),
    /** A local stdio server to run instead of a remote (or `remote`). */
    direct: directSchema.optional(),
    /** Remotes to fall back to, in order, when the first cannot be reached. */
    fallbacks: z.array(remoteSchema).default([]),
    queue: z
      .object({
        /** Requests that may wait while the link is down; one more gets CONNECTOR_QUEUE_FULL. */
        size: z.number().int().min(0).default(100),
        /** Longest a request waits for the link; then CONNECTOR_QUEUE_TIMEOUT. */
        waitMs: z.number().int().min(1).default(60_000),
      })
      .strict()
      .prefault({}),
    backoff: z
      .object({
        /** Ceiling of the first reconnection delay (default 500). */
        initialMs: z.number().int().min(1).optional(),
        /** Largest ceiling (default 30000). Either one alone may be set: the delays take both. */
        maxMs: z.number().int().min(1).optional(),
      })
      .strict()
      .prefault({})
      .refine((b) => b.initialMs === undefined || b.maxMs === undefined || b.initialMs <= b.maxMs, {
        message: 'initialMs must not exceed maxMs',
        path: ['initialMs'],
      }),
    /** One connection attempt, and the session restore on it. */
    connectTimeoutMs: z.number().int().min(1).default(10_000),
    /** Keep the link's state in this JSON file (mode 0600); `connect --status` reads it. */
    statusFile: z.string().min(1).optional(),
    logLevel: z.enum(LOG_LEVELS).default('info'),
    /** Prometheus metrics of the connector at http://host:port/metrics (opt-in). */
    metrics: z
      .object({
        enabled: z.boolean().default(false),
        port: z.number().int().min(0).max(65535).default(9091),
        host: z.string().min(1).default('127.0.0.1'),
      })
      .strict()
      .prefault({}),
    /** Largest message accepted from either side, in bytes. */
    maxMessageBytes: z
      .number()
      .int()
      .min(1024)
      .default(16 * 1024 * 1024),
  })
  .strict()
  .superRefine((config, ctx) => {
    if ((config.remote === undefined) === (config.direct === undefined))
      ctx.addIssue({
        code: 'custom',
        path: [config.remote === undefined ? 'remote' : 'direct'],
        message:
          config.remote === undefined
            ? 'expected remote (a gateway to reach, with its url) or direct (a local server to run)'
            : 'give remote or direct, not both',
      });
  });

export type ConnectorConfig = z.infer<typeof connectorConfigSchema>;
export type ConnectorConfigInput = z.input<typeof connectorConfigSchema>;
export type RemoteConfig = NonNullable<ConnectorConfig['remote']>;
export type RemoteAuth = RemoteConfig['auth'];
export type RemoteTls = NonNullable<RemoteConfig['tls']>;
