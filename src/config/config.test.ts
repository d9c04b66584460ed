import { describe, expect, it } from 'vitest';
import { ConfigError, messageLimit, parseConfig } from './schema.js';
import { splitCommandLine, withMaxConnectionsPerAddress } from './command-line.js';
import { quickModeConfig } from './quick-mode.js';

describe('splitCommandLine', () => {
  it('splits with shell quoting and keeps variables literal', () => {
    expect(splitCommandLine(`npx -y "@scope/server" --root '/tmp/a b' $HOME`)).toEqual({
      command: 'npx',
      args: ['-y', '@scope/server', '--root', '/tmp/a b', '$HOME'],
    });
  });

  it.each([
    ['a && b', 'the shell operator "&&"'],
    ['a > out', 'the shell operator ">"'],
    ['', 'the command is empty'],
  ])('refuses %j', (line, why) => expect(() => splitCommandLine(line)).toThrow(why));
});

describe('--max-connections-per-address', () => {
  const fail = (message: string): never => {
    throw new Error(message);
  };

  it('sets server.maxConnectionsPerAddress, 0 (no cap) included, and keeps the other flags', () => {
    const flags = { server: { port: 0 }, log: { level: 'info' as const } };
    expect(withMaxConnectionsPerAddress(flags, '0', fail)).toEqual({
      server: { port: 0, maxConnectionsPerAddress: 0 },
      log: { level: 'info' },
    });
    expect(withMaxConnectionsPerAddress({ server: {} }, '20000', fail).server).toEqual({
      maxConnectionsPerAddress: 20_000,
    });
    expect(
      parseConfig({
        ...quickModeConfig({ stdio: 'srv' }),
        ...withMaxConnectionsPerAddress({ server: {} }, '0', fail),
      }).server.maxConnectionsPerAddress,
    ).toBe(0);
  });

  it('leaves the flags alone when absent (the default, 256, comes from the schema)', () => {
    const flags = { server: { port: 1 } };
    expect(withMaxConnectionsPerAddress(flags, undefined, fail)).toBe(flags);
    expect(parseConfig(quickModeConfig({ stdio: 'srv' })).server.maxConnectionsPerAddress).toBe(
      256,
    );
  });

  it.each(['-1', 'x', '1.5', '', '1e3', '99999999999999999999'])('refuses %j', (value) =>
    expect(() => withMaxConnectionsPerAddress({}, value, fail)).toThrow(
      '--max-connections-per-address: expected a whole number (0: no cap)',
    ),
  );
});

describe('parseConfig', () => {
  it('fills every default and freezes the result', () => {
    const config = parseConfig(quickModeConfig({ stdio: 'mcp-server-everything stdio' }));
    expect(config.server).toMatchObject({ host: '127.0.0.1', port: 8080, path: '/mcp' });
    expect(config.backends['mcp-server-everything']).toMatchObject({
      command: 'mcp-server-everything',
      args: ['stdio'],
    });
    expect(Object.isFrozen(config.backends)).toBe(true);
  });

  it('names the exact path of each problem', () => {
    try {
      parseConfig({
        server: { port: 99999 },
        backends: { github: { transport: 'stdio', command: '' } },
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const problems = (error as ConfigError).problems;
      expect(problems.some((p) => p.startsWith('server.port:'))).toBe(true);
      expect(problems).toContain('backends.github.command: expected a non-empty command');
    }
  });

  it('gives each surface its own message limit, the shared one by default, and names a bad one', () => {
    const backends = { a: { command: 'x' } };
    const shared = parseConfig({ limits: { maxMessageBytes: 2048 }, backends });
    expect(messageLimit(shared.limits, 'http')).toBe(2048);
    expect(messageLimit(shared.limits, 'websocket')).toBe(2048);
    const own = parseConfig({ limits: { http: { maxMessageBytes: 4096 } }, backends });
    expect(messageLimit(own.limits, 'http')).toBe(4096);
    expect(messageLimit(own.limits, 'websocket')).toBe(16 * 1024 * 1024);
    expect(() => parseConfig({ limits: { websocket: { maxMessageBytes: 10 } }, backends })).toThrow(
      /limits\.websocket\.maxMessageBytes: Too small/,
    );
    expect(() => parseConfig({ server: { tcp: { healthPort: 9002 } }, backends })).toThrow(
      /server\.tcp\.healthPort: expected server\.tcp\.enabled/,
    );
  });

  it('rejects unknown keys', () => {
    expect(() =>
      parseConfig({ backends: { a: { transport: 'stdio', command: 'x', comand: 'y' } } }),
    ).toThrow(/backends\.a/);
  });
});
