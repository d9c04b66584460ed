import { execFile } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient } from '../helpers.js';

/*
 * The two scripts a user runs by hand (scripts/quick-start.sh, scripts/install-systemd.sh), each
 * run twice in a temporary folder: the first run does the work, the second changes nothing and
 * says so. shellcheck checks both when it is installed. The demo gateway quick-start starts is
 * real (this checkout's node_modules, reached by a symlink) and answers an SDK client; only npm
 * is a stand-in (a real `npm ci` from the registry takes minutes): it links node_modules and
 * copies dist/ where `npm ci` and `npm run build` would make them, and records each call.
 * install-systemd writes into --prefix; its unit is checked by `systemd-analyze verify` where
 * that exists (this machine has no running systemd), and read key by key either way.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'install-scripts-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Whether process `pid` runs: an exited one not yet reaped (a zombie) does not. */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function has(command: string): Promise<boolean> {
  return run('sh', ['-c', `command -v ${command}`]).then(
    () => true,
    () => false,
  );
}

describe('the scripts', () => {
  it('pass shellcheck (when it is installed)', async (context) => {
    if (!(await has('shellcheck'))) return context.skip('shellcheck is not installed');
    const scripts = ['scripts/quick-start.sh', 'scripts/install-systemd.sh'];
    await expect(run('shellcheck', scripts, { cwd: ROOT })).resolves.toMatchObject({ stdout: '' });
  });
});

describe('scripts/quick-start.sh', () => {
  let clone: string;
  let npmLog: string;
  const quickStart = (...args: string[]) =>
    run('bash', [join(clone, 'scripts/quick-start.sh'), ...args], {
      env: { PATH: process.env.PATH ?? '', NPM: join(dir, 'npm') },
    });

  beforeAll(() => {
    // A fresh clone: the tracked files the script reads, without node_modules or dist.
    clone = join(dir, 'clone');
    for (const path of [
      'scripts/quick-start.sh',
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'src',
    ])
      cpSync(join(ROOT, path), join(clone, path), { recursive: true });
    npmLog = join(dir, 'npm.log');
    writeFileSync(
      join(dir, 'npm'),
      [
        '#!/bin/sh',
        '# Stands in for npm (see the comment at the top of the test).',
        `echo "$*" >> ${JSON.stringify(npmLog)}`,
        `case "$1" in`,
        `  ci) ln -sfn ${JSON.stringify(join(ROOT, 'node_modules'))} node_modules ;;`,
        `  run) rm -rf dist && cp -r ${JSON.stringify(join(ROOT, 'dist'))} dist ;;`,
        'esac',
      ].join('\n'),
      { mode: 0o755 },
    );
  });
  afterAll(async () => {
    await quickStart('--stop').catch(() => undefined);
  });

  it('installs, builds and starts a demo gateway, then a second run changes nothing and says so', async () => {
    const first = await quickStart('--port', '0', '--admin-port', 'off');
    expect(first.stdout).toMatch(/^== dependencies: .*npm ci$/m);
    expect(first.stdout).toMatch(/^== build: .*npm run build$/m);
    expect(first.stdout).toMatch(/^quick-start: ready$/m);
    expect(readFileSync(npmLog, 'utf8')).toBe('ci --no-audit --no-fund\nrun build\n');
    const address = readFileSync(join(clone, '.quick-start/address'), 'utf8').trim();
    const pid = Number(readFileSync(join(clone, '.quick-start/gateway.pid'), 'utf8'));
    expect(running(pid)).toBe(true);
    const client = await connectClient(new URL(address));
    try {
      expect((await client.listTools()).tools.map((t) => t.name)).toContain('echo');
    } finally {
      await client.close();
    }

    const second = await quickStart('--port', '0', '--admin-port', 'off');
    expect(second.stdout).toContain('== dependencies: installed (package-lock.json unchanged)');
    expect(second.stdout).toContain('== build: dist/ is current');
    expect(second.stdout).toContain(`== gateway: running (pid ${pid}) at ${address}`);
    expect(second.stdout).toMatch(/^quick-start: nothing to do: everything was already in place$/m);
    expect(readFileSync(npmLog, 'utf8')).toBe('ci --no-audit --no-fund\nrun build\n');

    const stopped = await quickStart('--stop');
    expect(stopped.stdout).toBe(`quick-start: stopped the demo gateway (pid ${pid})\n`);
    const log = readFileSync(join(clone, '.quick-start/gateway.log'), 'utf8');
    expect(running(pid), `the gateway still runs; its log:\n${log}`).toBe(false);
  }, 60_000);

  it('refuses a bad flag with exit 2 and says why', async () => {
    await expect(quickStart('--port', 'eighty')).rejects.toMatchObject({
      code: 2,
      stderr: 'quick-start: --port: expected a number, got "eighty"\n',
    });
  });
});

describe('scripts/install-systemd.sh', () => {
  const install = (...args: string[]) =>
    run('bash', [join(ROOT, 'scripts/install-systemd.sh'), ...args], {
      env: { PATH: process.env.PATH ?? '' },
    });

  it('--dry-run prints what it would do and writes nothing', async () => {
    const prefix = join(dir, 'dry');
    const { stdout } = await install('--prefix', prefix, '--dry-run');
    expect(stdout).toContain(
      `would be created: ${prefix}/etc/systemd/system/mcp-bridge.service (mode 0644)`,
    );
    expect(stdout).toContain(
      `would be created: ${prefix}/etc/mcp-bridge/mcp-bridge.env (mode 0600)`,
    );
    expect(stdout).toContain('ProtectSystem=strict');
    expect(stdout).toMatch(/^install-systemd: dry run: nothing was written$/m);
    expect(existsSync(prefix)).toBe(false);
  });

  it('writes a hardened unit, its config and env file; a second run changes nothing and says so', async () => {
    const prefix = join(dir, 'root');
    const units = join(dir, 'units');
    const first = await install('--prefix', prefix, '--unit-dir', units, '--port', '8123');
    expect(first.stdout).toMatch(/^created +.*\/units\/mcp-bridge\.service$/m);
    expect(first.stdout).toMatch(/^install-systemd: installed/m);
    const unitPath = join(units, 'mcp-bridge.service');
    const unit = readFileSync(unitPath, 'utf8');
    const settings = new Map<string, string[]>();
    for (const line of unit.split('\n')) {
      const match = /^([A-Za-z]+)=(.*)$/.exec(line);
      if (match) settings.set(match[1]!, [...(settings.get(match[1]!) ?? []), match[2]!]);
    }
    const one = (key: string) => settings.get(key)?.[0];
    expect(one('DynamicUser')).toBe('yes');
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(one('Restart')).toBe('on-failure');
    expect(one('EnvironmentFile')).toBe('/etc/mcp-bridge/mcp-bridge.env');
    expect(one('ExecStart')).toBe(
      `${process.execPath} ${ROOT.replace(/\/$/, '')}/dist/cli.js --config /etc/mcp-bridge/config.yaml`,
    );
    expect(settings.get('Environment')).toContain('BRIDGE_PORT=8123');
    expect(statSync(join(prefix, 'etc/mcp-bridge/mcp-bridge.env')).mode & 0o777).toBe(0o600);
    // The config it writes is one the gateway accepts.
    const check = await run(process.execPath, [
      join(ROOT, 'dist/cli.js'),
      'check-config',
      join(prefix, 'etc/mcp-bridge/config.yaml'),
    ]);
    expect(check.stdout).toMatch(/ok \(1 backend: everything\)/);
    if (await has('systemd-analyze')) await run('systemd-analyze', ['verify', unitPath]);

    writeFileSync(join(prefix, 'etc/mcp-bridge/mcp-bridge.env'), 'BRIDGE_API_KEYS=mine\n');
    const second = await install('--prefix', prefix, '--unit-dir', units, '--port', '8123');
    expect(second.stdout).toMatch(/^unchanged +.*mcp-bridge\.service$/m);
    expect(second.stdout).toMatch(/^kept +.*mcp-bridge\.env \(exists; never overwritten\)$/m);
    expect(second.stdout).toMatch(
      /^install-systemd: nothing to do: mcp-bridge\.service is installed as wanted$/m,
    );
    expect(readFileSync(unitPath, 'utf8')).toBe(unit);
    expect(readFileSync(join(prefix, 'etc/mcp-bridge/mcp-bridge.env'), 'utf8')).toBe(
      'BRIDGE_API_KEYS=mine\n',
    );

    const moved = await install('--prefix', prefix, '--unit-dir', units, '--port', '8124');
    expect(moved.stdout).toMatch(/^updated +.*mcp-bridge\.service$/m);
  });

  it('refuses what it cannot use, naming it', async () => {
    await expect(
      install('--prefix', join(dir, 'x'), '--app-dir', join(dir, 'nowhere')),
    ).rejects.toMatchObject({
      code: 1,
      stderr: 'install-systemd: --app-dir: no such folder\n',
    });
    await expect(install('--port', 'x')).rejects.toMatchObject({
      code: 1,
      stderr: 'install-systemd: --port: expected a number, got "x"\n',
    });
  });
});
