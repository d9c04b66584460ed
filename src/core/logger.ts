import pino from 'pino';
import type { DestinationStream, Logger, LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

/** Keys whose values never reach a log line, wherever they appear in a record. */
const SECRET_KEYS = [
  'authorization',
  'Authorization',
  'proxy-authorization',
  'cookie',
  'Cookie',
  'set-cookie',
  'x-api-key',
  'X-Api-Key',
  'token',
  'accessToken',
  'access_token',
  'refreshToken',
  'refresh_token',
  'idToken',
  'id_token',
  'authToken',
  'auth_token',
  'apiKey',
  'api_key',
  'secret',
  'clientSecret',
  'client_secret',
  'password',
];

const REDACT_PATHS = [
  ...SECRET_KEYS.map((k) => `["${k}"]`),
  ...SECRET_KEYS.map((k) => `*["${k}"]`),
  ...['headers', '*.headers', '*.*.headers'].flatMap((h) => SECRET_KEYS.map((k) => `${h}["${k}"]`)),
  'env.*',
  '*.env.*',
];

export interface LoggerOptions {
  /** @default 'info' */
  level?: LevelWithSilent;
  /** Where records go; stdout belongs to stdio MCP, so the default is stderr. @default 2 */
  destination?: number | string;
  /**
   * `json`: one JSON object a line, for machines; `pretty`: one readable line a record
   * (`12:00:01.234 INFO  gateway listening host=127.0.0.1 port=8080`), for a person at a terminal.
   * @default 'json'
   */
  format?: 'json' | 'pretty';
  /** Colour the pretty lines (levels, keys). @default false */
  colors?: boolean;
}

/**
 * The pretty form: time, level and message first, then the record's fields as `key=value` on the
 * same line, so that a grep of the terminal still finds whole records. Errors keep their stack
 * (on the lines after), as a person chasing a bug wants it.
 */
function prettyStream(options: LoggerOptions): DestinationStream {
  return pretty({
    destination: options.destination ?? 2,
    // Synchronous, so that a line logged just before exit is not lost and lines stay in order
    // with what the CLI writes to stderr itself.
    sync: true,
    colorize: options.colors ?? false,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,name',
    singleLine: true,
    messageFormat: '{msg}',
  });
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      name: 'mcp-bridge',
      level: options.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: undefined,
    },
    options.format === 'pretty'
      ? prettyStream(options)
      : pino.destination({ dest: options.destination ?? 2, sync: false }),
  );
}
