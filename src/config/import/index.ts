import { stringify } from 'yaml';
import { convertSeed001, isSeed001 } from './seed-001.js';
import { convertSeed003, isSeed003 } from './seed-003.js';
import { convertSeed004, isSeed004 } from './seed-004.js';
import type { ConversionResult } from './shared.js';
import { isPlain } from './shared.js';

export type { ConversionResult, DroppedKey } from './shared.js';

/*
 * Config files of the seed systems (docs/migrating.md), told apart by their shape and converted
 * to ours. Our own format never has their top-level keys (the schema is strict), so a file of
 * ours is never mistaken for one of theirs.
 */

const FORMATS = [
  { is: isSeed004, convert: convertSeed004 },
  { is: isSeed003, convert: convertSeed003 },
  { is: isSeed001, convert: convertSeed001 },
] as const;

/** A file that is not in a seed's format; the message says which shapes are known. */
export class ImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImportError';
  }
}

/** The conversion of a seed's config, or undefined when the document is in no seed's shape. */
export function convertSeedConfig(doc: unknown): ConversionResult | undefined {
  if (!isPlain(doc)) return undefined;
  return FORMATS.find((f) => f.is(doc))?.convert(doc);
}

/** Like convertSeedConfig, but a document of no known shape is an ImportError saying why. */
export function importSeedConfig(doc: unknown): ConversionResult {
  const result = convertSeedConfig(doc);
  if (result) return result;
  if (isPlain(doc) && isPlain(doc.backends))
    throw new ImportError(
      'already an mcp-bridge config (a "backends" mapping); nothing to convert',
    );
  throw new ImportError(
    'not a config of a known seed system: expected seed 001\'s services.yaml (a "services" mapping), seed 003\'s gateway config ("version" with a "backends" list, "server.protocol", "routing" or "service_discovery") or seed 004\'s mcp-router.yaml ("direct_clients", "servers" with "connection_mode", or "gateway" with "url"/"endpoints")',
  );
}

/** The converted config as YAML, with a header naming where it came from. */
export function conversionYaml(result: ConversionResult, source: string): string {
  return `# Converted by "mcp-bridge import" from ${source} (${result.format}).\n${stringify(result.config)}`;
}

/** What stderr says of a conversion: each key not carried and why, then the notes. */
export function conversionReport(result: ConversionResult): string[] {
  return [
    ...result.dropped.map((d) => `not carried: ${d.key}: ${d.reason}`),
    ...result.notes.map((n) => `note: ${n}`),
  ];
}
