/* What every seed converter shares: the result's shape and a few readers of loose YAML values. */

import { schemeFamily } from '../../core/url-schemes.js';

type Plain = Record<string, unknown>;

/** A key of the seed's file that the converted config does not carry, and why. */
export interface DroppedKey {
  /** Dotted path in the seed's file (`server.tcp_health_port`, `backends[2].config.health_check`). */
  key: string;
  reason: string;
}

/** A seed's config converted to ours. */
export interface ConversionResult {
  /** Which seed system's format the file was in (`001`, `003`, `004`). */
  seed: string;
  /** That format, in words, for messages. */
  format: string;
  /** The config in our format, as a plain object (it passes parseConfig). */
  config: Plain;
  dropped: DroppedKey[];
  /** Advice that is not about one key (how to run what was converted). */
  notes: string[];
}

export function isPlain(value: unknown): value is Plain {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A Go- or seed-style duration (`30s`, `5m`, `1h`, `500ms`, or a number of seconds) in ms. */
export function durationMs(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0)
    return Math.round(value * 1000);
  if (typeof value !== 'string') return undefined;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!match) return undefined;
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? 's']!;
  return Math.round(Number(match[1]) * factor);
}

/** A backend name that our schema accepts, made from a seed's service name. */
export function backendName(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  return cleaned === '' ? 'backend' : cleaned;
}

/** Records every key of `object` not in `used` as dropped, with `reason(key)`. */
export function dropRest(
  dropped: DroppedKey[],
  prefix: string,
  object: Plain,
  used: readonly string[],
  reason: (key: string) => string,
): void {
  for (const key of Object.keys(object)) {
    if (!used.includes(key)) dropped.push({ key: `${prefix}${key}`, reason: reason(key) });
  }
}

/**
 * Our `log` section for a seed's `logging`: its level and format, every other key dropped with
 * `reason(key)`.
 */
export function logSection(
  logging: Plain,
  dropped: DroppedKey[],
  reason: (key: string) => string,
): Plain {
  const log: Plain = {};
  const level = logLevel(logging.level);
  if (level) log.level = level;
  const format = logFormat(logging.format);
  if (format) log.format = format;
  dropRest(dropped, 'logging.', logging, ['level', 'format'], reason);
  return log;
}

/** Our log format for a seed's (`json`, `text`, `console`). */
function logFormat(value: unknown): 'json' | 'pretty' | undefined {
  if (value === 'json') return 'json';
  if (value === 'text' || value === 'console' || value === 'pretty') return 'pretty';
  return undefined;
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

/** Our log level for a seed's (`INFO`, `warning`, `debug`). */
export function logLevel(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const lower = value.toLowerCase();
  const level = lower === 'warning' ? 'warn' : lower === 'critical' ? 'fatal' : lower;
  return LEVELS.includes(level) ? level : undefined;
}

/** The transport our schema has for a URL's scheme, if any (`auto` for http and https). */
export function transportOfUrl(url: string): string | undefined {
  const family = schemeFamily(url);
  return family === 'http' ? 'auto' : family;
}

/** The sections in the order docs/configuration.md gives them, so that converted files read alike. */
const SECTION_ORDER = [
  'server',
  'limits',
  'admin',
  'auth',
  'redis',
  'rateLimits',
  'breakers',
  'processes',
  'tracing',
  'log',
  'backends',
];

export function ordered(config: Plain): Plain {
  const rank = (key: string) => {
    const i = SECTION_ORDER.indexOf(key);
    return i === -1 ? SECTION_ORDER.length : i;
  };
  return Object.fromEntries(Object.entries(config).sort(([a], [b]) => rank(a) - rank(b)));
}
