import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from './schema.js';
import { splitCommandLine } from './command-line.js';
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

  it('rejects unknown keys', () => {
    expect(() =>
      parseConfig({ backends: { a: { transport: 'stdio', command: 'x', comand: 'y' } } }),
    ).toThrow(/backends\.a/);
  });
});
