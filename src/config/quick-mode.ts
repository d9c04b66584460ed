import type { GatewayConfigInput } from './schema.js';
import { splitCommandLine } from './command-line.js';

/** What quick mode reads from the command line. */
export interface QuickModeFlags {
  stdio: string;
  host?: string;
  port?: number;
  logLevel?: string;
}

/** The configuration for bridging one stdio command, before validation. */
export function quickModeConfig(flags: QuickModeFlags): GatewayConfigInput {
  const { command, args } = splitCommandLine(flags.stdio);
  const name =
    command
      .split('/')
      .pop()!
      .replace(/[^A-Za-z0-9_.-]/g, '-')
      .replace(/^[^A-Za-z0-9]+/, '') || 'backend';
  return {
    server: { host: flags.host ?? '127.0.0.1', port: flags.port ?? 8080, path: '/mcp' },
    log: { level: (flags.logLevel ?? 'info') as 'info' },
    backends: { [name]: { transport: 'stdio', command, args } },
  };
}
