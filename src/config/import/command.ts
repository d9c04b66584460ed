import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ImportError, conversionReport, conversionYaml, importSeedConfig } from './index.js';

/**
 * `mcp-bridge import <file>`: the seed system's config converted to ours on stdout, each key
 * not carried (and why) on stderr. Returns the exit code: 0 converted, 1 a file that cannot be
 * read or is of no known shape, 2 a misuse.
 */
export function importCommand(args: readonly string[]): number {
  const fail = (message: string, code: number): number => {
    process.stderr.write(`mcp-bridge: import: ${message}\n`);
    return code;
  };
  if (args.length === 0) return fail('give the file to convert (mcp-bridge import <file>)', 2);
  if (args.length > 1) return fail(`unexpected argument "${args[1]}"`, 2);
  const file = args[0]!;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return fail(
      `${file}: ${code === 'ENOENT' ? 'file not found' : `cannot read the file: ${(error as Error).message}`}`,
      1,
    );
  }
  let doc: unknown;
  try {
    doc = parse(text); // JSON is YAML too
  } catch (error) {
    return fail(`${file}: not YAML or JSON: ${(error as Error).message.split('\n')[0]}`, 1);
  }
  try {
    const result = importSeedConfig(doc);
    process.stdout.write(conversionYaml(result, file));
    process.stderr.write(`mcp-bridge: import: ${file}: a ${result.format}\n`);
    for (const line of conversionReport(result))
      process.stderr.write(`mcp-bridge: import: ${line}\n`);
    return 0;
  } catch (error) {
    if (error instanceof ImportError) return fail(`${file}: ${error.message}`, 1);
    throw error;
  }
}
