import pino from 'pino';
import type { Logger, LevelWithSilent } from 'pino';

export type { Logger };

/** Paths whose values never reach a log line, wherever they appear in a record. */
const REDACT_PATHS = [
  'authorization',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers.cookie',
  '*.authorization',
  '*.token',
  '*.apiKey',
  '*.secret',
  '*.password',
  'env.*',
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
