import pino from 'pino';
import type { Logger, LevelWithSilent } from 'pino';

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
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      name: 'mcp-bridge',
      level: options.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: undefined,
    },
    pino.destination({ dest: options.destination ?? 2, sync: false }),
  );
}
