import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from './schema.js';
import type { ConfigOverrides, LoadOptions } from './load.js';
import { ConfigLoadError, loadConfig, merge, watchConfig } from './load.js';
import { malformedDotenvLines } from './env.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcp-bridge-load-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const oneBackend: ConfigOverrides = { backends: { probe: { command: 'probe-server' } } };

/** Loads with an empty environment and `dir` as the working directory, unless told otherwise. */
function load(options: LoadOptions = {}) {
  return loadConfig({ env: {}, cwd: dir, ...options });
}

/** The problems of a load that must fail. */
function problemsOf(options: LoadOptions): string[] {
  try {
    load(options);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigLoadError);
    return (error as ConfigLoadError).problems;
  }
  return expect.unreachable('the configuration loaded');
}

async function file(name: string, text: string): Promise<string> {
  await writeFile(join(dir, name), text);
  return name;
}

describe('loadConfig: layers and precedence', () => {
  // With --serve stdio the admin listener is off unless something asks for it.
  it("takes the mode's defaults under every layer", async () => {
    const defaults: ConfigOverrides = { admin: { enabled: false } };
    expect(load({ flags: oneBackend, defaults }).admin.enabled).toBe(false);
    const name = await file(
      'on.yaml',
      'admin: { enabled: true }\nbackends: { a: { command: x } }\n',
    );
    expect(load({ file: name, defaults }).admin.enabled).toBe(true);
    expect(
      load({ flags: oneBackend, defaults, env: { BRIDGE_ENABLE_METRICS: 'true' } }).admin,
    ).toMatchObject({ enabled: true });
    const flags = { ...oneBackend, admin: { enabled: true, port: 0 } };
    expect(load({ flags, defaults }).admin).toMatchObject({ enabled: true, port: 0 });
  });

  it('fills the defaults when only flags are given, and freezes the result', () => {
    const config = load({ flags: oneBackend });
    expect(config.server).toMatchObject({ host: '127.0.0.1', port: 8080, path: '/mcp' });
    expect(config.backends.probe).toMatchObject({ transport: 'stdio', timeoutMs: 300_000 });
    expect(Object.isFrozen(config.server)).toBe(true);
  });

  it('takes defaults < file < environment < flags, key by key', async () => {
    const name = await file(
      'bridge.yaml',
      'server: { port: 9000, host: 0.0.0.0 }\nlog: { level: debug }\nbackends: { a: { command: x } }\n',
    );
    expect(load({ file: name }).server).toMatchObject({ port: 9000, host: '0.0.0.0' });
    const env = { BRIDGE_PORT: '9100', BRIDGE_LOG_LEVEL: 'warn' };
    const fromEnv = load({ file: name, env });
    expect(fromEnv.server).toMatchObject({ port: 9100, host: '0.0.0.0' });
    expect(fromEnv.log.level).toBe('warn');
    const fromFlags = load({ file: name, env, flags: { server: { port: 9200 } } });
    expect(fromFlags.server).toMatchObject({ port: 9200, host: '0.0.0.0' });
    expect(fromFlags.log.level).toBe('warn');
    expect(fromFlags.server.path).toBe('/mcp');
  });

  it('merges nested sections deeply and backends by name; lists are replaced', async () => {
    const name = await file(
      'bridge.json',
      JSON.stringify({
        processes: { max: 5, idleTimeoutMs: 1000 },
        backends: {
          a: { command: 'x', args: ['1', '2'], env: { A: 'a' } },
          b: { url: 'https://example.com/mcp' },
        },
      }),
    );
    const config = load({
      file: name,
      flags: {
        processes: { max: 7 },
        backends: { a: { args: ['3'], env: { B: 'b' } }, c: { command: 'y' } },
      },
    });
    expect(config.processes).toMatchObject({ max: 7, idleTimeoutMs: 1000 });
    expect(config.backends.a).toMatchObject({ command: 'x', args: ['3'], env: { A: 'a', B: 'b' } });
    expect(config.backends.b).toMatchObject({ transport: 'auto' });
    expect(Object.keys(config.backends)).toEqual(['a', 'b', 'c']);
  });

  it('applies BRIDGE_PROCESS_TIMEOUT to each backend without its own timeoutMs, flags left untouched', async () => {
    const name = await file(
      'bridge.yaml',
      'backends:\n  own: { command: x, timeoutMs: 1000 }\n  none: { command: y }\n',
    );
    const flags: ConfigOverrides = { backends: { added: { url: 'ws://h/ws' } } };
    const config = load({ file: name, env: { BRIDGE_PROCESS_TIMEOUT: '2.5' }, flags });
    expect(config.backends.own!.timeoutMs).toBe(1000);
    expect(config.backends.none!.timeoutMs).toBe(2500);
    expect(config.backends.added!.timeoutMs).toBe(2500);
    expect(flags).toEqual({ backends: { added: { url: 'ws://h/ws' } } });
  });

  it('merge shares no mapping with its inputs and sets nothing for undefined', () => {
    const base = { a: { b: 1 } };
    const out = merge(base, { a: { c: undefined }, d: undefined });
    expect(out).toEqual({ a: { b: 1 } });
    (out.a as Record<string, unknown>).b = 2;
    expect(base.a.b).toBe(1);
  });
});

describe('loadConfig: files', () => {
  const yaml = `
# a comment
server:
  port: 0
backends:
  everything:
    command: node
    args: [server.js, stdio]
    tools:
      include: ["get-*"]
`;
  const json = JSON.stringify({
    server: { port: 0 },
    backends: {
      everything: { command: 'node', args: ['server.js', 'stdio'], tools: { include: ['get-*'] } },
    },
  });

  it('reads YAML (.yaml, .yml) and JSON to the same configuration', async () => {
    const fromYaml = load({ file: await file('a.yaml', yaml) });
    expect(load({ file: await file('a.yml', yaml) })).toEqual(fromYaml);
    expect(load({ file: await file('a.json', json) })).toEqual(fromYaml);
    expect(fromYaml.backends.everything).toMatchObject({ tools: { include: ['get-*'] } });
  });

  it('reads a file of another extension as JSON, then as YAML', async () => {
    expect(load({ file: await file('bridge.conf', json) }).server.port).toBe(0);
    expect(load({ file: await file('bridge', yaml) }).server.port).toBe(0);
  });

  it('finds a file relative to cwd, or by its absolute path', async () => {
    await file('a.yaml', yaml);
    expect(load({ file: join(dir, 'a.yaml'), cwd: '/' }).server.port).toBe(0);
  });

  it('reads YAML merge keys', async () => {
    const name = await file(
      'merge.yaml',
      'backends:\n  a: &common { command: x, timeoutMs: 5000 }\n  b: { <<: *common, command: y }\n',
    );
    expect(load({ file: name }).backends.b).toMatchObject({ command: 'y', timeoutMs: 5000 });
  });

  it.each([
    ['bad.yaml', 'a: [1, 2\nb: 3\n', 'bad.yaml: line 2, column 1: Flow sequence'],
    ['dup.yaml', 'a: 1\na: 2\n', 'dup.yaml: line 2, column 1: Map keys must be unique'],
    ['tab.yaml', 'a:\n\t- 1\n', 'tab.yaml: line 2, column 1: Tabs'],
    ['bad.json', '{\n  "a": 1\n  "b": 2\n}', "bad.json: line 3, column 3: Expected ',' or '}'"],
    ['trail.json', '{"a": 1,}', 'trail.json: line 1, column 9: Expected double-quoted'],
    ['tru.json', '{\n "a": tru\n}', "tru.json: line 2, column 7: Unexpected token '\\n'"],
    ['short.json', '{"a": ', 'short.json: line 1, column 7: Unexpected end of JSON input'],
  ])('reports a syntax error in %s with its line and column', async (name, text, problem) => {
    const problems = problemsOf({ file: await file(name, text) });
    expect(problems[0]).toContain(problem);
  });

  it.each([
    [
      'list.yaml',
      '- a\n- b\n',
      'list.yaml: expected a mapping of settings at the top level, got a list',
    ],
    [
      'empty.yaml',
      '',
      'empty.yaml: expected a mapping of settings at the top level, got nothing (the file is empty)',
    ],
    [
      'scalar.json',
      '42',
      'scalar.json: expected a mapping of settings at the top level, got a number',
    ],
  ])('refuses %s whose top level is not a mapping', async (name, text, problem) => {
    expect(problemsOf({ file: await file(name, text) })).toEqual([problem]);
  });

  it('names a file that is missing or not a file', async () => {
    expect(problemsOf({ file: 'nope.yaml' })).toEqual([
      `nope.yaml: file not found (looked for ${join(dir, 'nope.yaml')})`,
    ]);
    await mkdir(join(dir, 'sub.yaml'));
    expect(problemsOf({ file: 'sub.yaml' })).toEqual(['sub.yaml: is a directory, not a file']);
    expect(() => load({ file: 'nope.yaml' })).toThrow(ConfigError);
    expect(() => load({ file: 'nope.yaml' })).toThrow(
      expect.objectContaining({ file: 'nope.yaml' }),
    );
  });

  it('prefixes schema problems with the file, and reports them all at once', async () => {
    const name = await file(
      'bridge.yaml',
      'bogus: 1\nserver: { port: "80" }\nbackends:\n  github: { command: "" }\n  web: { url: "http://" }\n',
    );
    expect(problemsOf({ file: name, env: { BRIDGE_MAX_PROCESSES: 'many' } })).toEqual([
      'BRIDGE_MAX_PROCESSES: expected an integer, 0 or more, got "many"',
      'bridge.yaml: server.port: Invalid input: expected number, received string',
      'bridge.yaml: backends.github.command: expected a non-empty command',
      'bridge.yaml: backends.web.url: expected a URL starting with http:// or https://',
      'bridge.yaml: (root): Unrecognized key: "bogus"',
    ]);
  });

  it('tells problems caused by flags apart: no prefix, and flagsOnly', async () => {
    try {
      load({ flags: { ...oneBackend, log: { level: 'loud' as 'info' } } });
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigLoadError).flagsOnly).toBe(true);
      expect((error as ConfigLoadError).problems[0]).toMatch(/^log\.level: Invalid option/);
    }
    try {
      load({ flags: oneBackend, env: { BRIDGE_SESSION_TIMEOUT: '0.5' } });
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigLoadError).flagsOnly).toBe(false);
      expect((error as ConfigLoadError).problems).toEqual([
        'BRIDGE_SESSION_TIMEOUT: sessions.idleTimeoutMs: Too small: expected number to be >=1000',
      ]);
    }
  });
});

describe('loadConfig: ${VAR} references', () => {
  it('replaces references in every string value, from the environment', async () => {
    const name = await file(
      'bridge.yaml',
      [
        'backends:',
        '  github:',
        '    command: ${CMD}',
        '    args: ["--token=${TOKEN}", "${MISSING:-fallback}", "${EMPTY:-empty default}", "$${LITERAL}", "cost: $5"]',
        '    env:',
        '      GITHUB_TOKEN: ${TOKEN}',
        '    tools: { overrides: { "${KEPT}": { description: "${TOKEN}" } } }',
      ].join('\n'),
    );
    const config = load({ file: name, env: { CMD: 'gh-server', TOKEN: 's3cr3t', EMPTY: '' } });
    expect(config.backends.github).toMatchObject({
      command: 'gh-server',
      args: ['--token=s3cr3t', 'fallback', 'empty default', '${LITERAL}', 'cost: $5'],
      env: { GITHUB_TOKEN: 's3cr3t' },
      tools: { overrides: { '${KEPT}': { description: 's3cr3t' } } },
    });
  });

  it('names the path and the variable of each reference it cannot resolve, and nothing else about them', async () => {
    const name = await file(
      'bridge.yaml',
      [
        'backends:',
        '  github:',
        '    command: x',
        '    env: { GITHUB_TOKEN: "${GITHUB_TOKEN}" }',
        '  web:',
        '    url: ${WEB_URL}',
        '    headers: { a: "${1BAD}", b: "${UNCLOSED" }',
        '    args: ["${ALSO_MISSING}"]',
      ].join('\n'),
    );
    expect(problemsOf({ file: name })).toEqual([
      'bridge.yaml: backends.github.env.GITHUB_TOKEN: the environment variable GITHUB_TOKEN is not set (write ${GITHUB_TOKEN:-default} to give a default)',
      'bridge.yaml: backends.web.url: the environment variable WEB_URL is not set (write ${WEB_URL:-default} to give a default)',
      'bridge.yaml: backends.web.headers.a: malformed reference "${1BAD}": expected ${NAME} or ${NAME:-default}',
      'bridge.yaml: backends.web.headers.b: malformed reference "${": expected ${NAME} or ${NAME:-default}',
      'bridge.yaml: backends.web.args[0]: the environment variable ALSO_MISSING is not set (write ${ALSO_MISSING:-default} to give a default)',
    ]);
  });
});

describe('loadConfig: .env files', () => {
  it('reads <cwd>/.env under the real environment', async () => {
    await file(
      '.env',
      '# settings\nBRIDGE_PORT=9001\nexport BRIDGE_HOST=0.0.0.0\nTOKEN="from dotenv"\n',
    );
    const name = await file('bridge.yaml', 'backends: { a: { command: x, args: ["${TOKEN}"] } }');
    const config = load({ file: name });
    expect(config.server).toMatchObject({ port: 9001, host: '0.0.0.0' });
    expect(config.backends.a).toMatchObject({ args: ['from dotenv'] });
    const real = load({ file: name, env: { BRIDGE_PORT: '9002', TOKEN: 'real' } });
    expect(real.server.port).toBe(9002);
    expect(real.backends.a).toMatchObject({ args: ['real'] });
  });

  it("also reads the config file's directory's .env, under the working directory's", async () => {
    await mkdir(join(dir, 'conf'));
    await file('conf/.env', 'BRIDGE_PORT=9003\nBRIDGE_HOST=10.0.0.1\nMULTI="a\nb"\n');
    await file('conf/bridge.yaml', 'backends: { a: { command: x, args: ["${MULTI}"] } }');
    const config = load({ file: 'conf/bridge.yaml' });
    expect(config.server).toMatchObject({ port: 9003, host: '10.0.0.1' });
    expect(config.backends.a).toMatchObject({ args: ['a\nb'] });
    await file('.env', 'BRIDGE_PORT=9004\n');
    expect(load({ file: 'conf/bridge.yaml' }).server).toMatchObject({
      port: 9004,
      host: '10.0.0.1',
    });
  });

  it('names the file and line of a malformed line, never its value', async () => {
    await file('.env', 'GOOD=1\nthis is not an assignment secret\n\nBAD NAME=x\nQUOTE="unclosed\n');
    expect(problemsOf({ flags: oneBackend })).toEqual([
      '.env: line 2: expected NAME=value',
      '.env: line 4: expected NAME=value',
      '.env: line 5: expected NAME=value',
    ]);
  });

  it('accepts what util.parseEnv reads', () => {
    expect(
      malformedDotenvLines(
        '# c\n\nA=1\nexport B = 2 # c\nC="x\ny"\nD=\'z\'\nE=`w`\nF=\n  G=indented\nH="one # two"\n',
      ),
    ).toEqual([]);
    expect(malformedDotenvLines('A=1\n1A=2\nB\n')).toEqual([2, 3]);
  });
});

describe('watchConfig', () => {
  // Generous against a loaded machine: two writes in a row must land in one debounce window.
  const settle = (ms = 1000) => new Promise((resolve) => setTimeout(resolve, ms));

  it('calls once per burst of changes, sees files renamed over it, and ignores writes of the same content', async () => {
    const path = join(dir, await file('bridge.yaml', 'a: 1\n'));
    let calls = 0;
    const watcher = watchConfig(path, () => calls++, { debounceMs: 300 });
    try {
      await writeFile(path, 'a: 2\n');
      await writeFile(path, 'a: 3\n');
      await settle();
      expect(calls).toBe(1);

      await writeFile(join(dir, 'bridge.yaml.tmp'), 'a: 4\n');
      await rename(join(dir, 'bridge.yaml.tmp'), path);
      await settle();
      expect(calls).toBe(2);

      await writeFile(path, 'a: 4\n');
      await writeFile(join(dir, 'unrelated.txt'), 'x');
      await settle();
      expect(calls).toBe(2);

      await writeFile(join(dir, '.env'), 'X=1\n');
      await settle();
      expect(calls).toBe(3);
    } finally {
      watcher.close();
    }
    await writeFile(path, 'a: 5\n');
    await settle();
    expect(calls).toBe(3);
  });
});
