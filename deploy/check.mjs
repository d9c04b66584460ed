#!/usr/bin/env node
/*
 * Checks the deployment files with whatever tools this machine has, and says which it skipped:
 *   haproxy -c (haproxy/haproxy.cfg), nginx -t (nginx/mcp-bridge.conf), systemd-analyze verify
 *   (systemd/mcp-bridge@.service), helm lint and helm template (helm/mcp-bridge, with `helm` on
 *   PATH or HELM=<path>), and a schema check of every Kubernetes object (kubernetes/*.yaml and
 *   the chart's rendering) with the `kubernetes-models` packages, from KUBERNETES_MODELS=<dir>
 *   (a directory where `npm install kubernetes-models @kubernetes-models/prometheus-operator
 *   yaml` was run) or the project's node_modules.
 *   node deploy/check.mjs
 */
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'deploy-check-'));
let failed = 0;
const say = (status, what, detail = '') => {
  if (status === 'FAIL') failed++;
  process.stdout.write(`${status.padEnd(5)} ${what}${detail ? `: ${detail}` : ''}\n`);
};
const has = (cmd) => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const run = (what, cmd, args) => {
  try {
    execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    say('ok', what);
  } catch (error) {
    say(
      'FAIL',
      what,
      String(error.stderr || error.stdout || error.message)
        .trim()
        .split('\n')
        .slice(-3)
        .join(' | '),
    );
  }
};

// HAProxy: the error files where the config expects them, then `haproxy -c`.
if (has('haproxy')) {
  const errors = join(tmp, 'errors');
  mkdirSync(errors);
  for (const f of readdirSync(join(HERE, 'haproxy')).filter((n) => n.endsWith('.http')))
    copyFileSync(join(HERE, 'haproxy', f), join(errors, f));
  const cfg = readFileSync(join(HERE, 'haproxy/haproxy.cfg'), 'utf8').replaceAll(
    '/etc/haproxy/errors',
    errors,
  );
  writeFileSync(join(tmp, 'haproxy.cfg'), cfg);
  run('haproxy -c haproxy/haproxy.cfg', 'haproxy', ['-c', '-q', '-f', join(tmp, 'haproxy.cfg')]);
} else say('skip', 'haproxy -c', 'no haproxy');

// nginx: the server block inside a minimal main config, with paths it may write.
if (has('nginx')) {
  const main = `pid ${tmp}/nginx.pid;\nerror_log ${tmp}/error.log;\nevents {}\nhttp {\n  access_log off;\n  client_body_temp_path ${tmp};\n  proxy_temp_path ${tmp};\n  fastcgi_temp_path ${tmp};\n  uwsgi_temp_path ${tmp};\n  scgi_temp_path ${tmp};\n  include ${join(HERE, 'nginx/mcp-bridge.conf')};\n}\n`;
  writeFileSync(join(tmp, 'nginx.conf'), main);
  run('nginx -t nginx/mcp-bridge.conf', 'nginx', [
    '-t',
    '-q',
    '-c',
    join(tmp, 'nginx.conf'),
    '-p',
    tmp,
  ]);
} else say('skip', 'nginx -t', 'no nginx');

// systemd: an instance of the template.
if (has('systemd-analyze')) {
  copyFileSync(join(HERE, 'systemd/mcp-bridge@.service'), join(tmp, 'mcp-bridge@.service'));
  try {
    const out = execFileSync('systemd-analyze', ['verify', join(tmp, 'mcp-bridge@r1.service')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }).toString();
    say('ok', 'systemd-analyze verify systemd/mcp-bridge@.service', out.trim());
  } catch (error) {
    const text = String(error.stderr).trim();
    // A unit that parses but names a user or binary this machine lacks is still well formed.
    if (/Failed to parse|Unknown|Invalid/i.test(text)) say('FAIL', 'systemd-analyze verify', text);
    else say('ok', 'systemd-analyze verify systemd/mcp-bridge@.service', text.split('\n')[0]);
  }
} else say('skip', 'systemd-analyze verify', 'no systemd-analyze');

// Helm: lint and render.
const helm = process.env.HELM ?? (has('helm') ? 'helm' : undefined);
let rendered;
if (helm) {
  const chart = join(HERE, 'helm/mcp-bridge');
  const secret = ['--set', 'secret=0123456789abcdef0123456789abcdef'];
  run('helm lint helm/mcp-bridge', helm, ['lint', chart, ...secret]);
  try {
    rendered = execFileSync(
      helm,
      ['template', 't', chart, ...secret, '--set', 'serviceMonitor.enabled=true'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    ).toString();
    say('ok', 'helm template helm/mcp-bridge');
  } catch (error) {
    say('FAIL', 'helm template', String(error.stderr));
  }
} else say('skip', 'helm lint, helm template', 'no helm (HELM=<path> to use one)');

// Schemas: every object, against the Kubernetes OpenAPI models (ES modules, loaded by path).
const base = process.env.KUBERNETES_MODELS ?? join(HERE, '..');
const model = (spec) => import(pathToFileURL(join(base, 'node_modules', spec, 'index.js')).href);
if (existsSync(join(base, 'node_modules/kubernetes-models/v1/index.js'))) {
  const { parseAllDocuments } = await import('yaml');
  const sources = readdirSync(join(HERE, 'kubernetes'))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => [`kubernetes/${f}`, readFileSync(join(HERE, 'kubernetes', f), 'utf8')]);
  if (rendered) sources.push(['helm template', rendered]);
  const documents = [];
  for (const [name, text] of sources)
    for (const doc of parseAllDocuments(text)) if (doc.contents) documents.push([name, doc.toJS()]);
  const groups = {
    v1: 'kubernetes-models/v1',
    'apps/v1': 'kubernetes-models/apps/v1',
    'autoscaling/v2': 'kubernetes-models/autoscaling/v2',
    'policy/v1': 'kubernetes-models/policy/v1',
    'networking.k8s.io/v1': 'kubernetes-models/networking.k8s.io/v1',
    'monitoring.coreos.com/v1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
  };
  for (const [name, object] of documents) {
    const what = `schema ${name}: ${object.kind} ${object.metadata?.name}`;
    try {
      const Model = (await model(groups[object.apiVersion]))[object.kind];
      new Model(object).validate();
      say('ok', what);
    } catch (error) {
      say('FAIL', what, error.message.split('\n').slice(0, 4).join(' | '));
    }
  }
} else say('skip', 'schema check', 'no kubernetes-models (KUBERNETES_MODELS=<dir>)');

// The gateway's own check of the cluster config file, as a replica would load it.
try {
  const out = execFileSync(
    process.execPath,
    [join(HERE, '../dist/cli.js'), 'check-config', join(HERE, 'config.cluster.yaml')],
    {
      env: {
        ...process.env,
        BRIDGE_CLUSTER_SECRET: '0123456789abcdef0123456789abcdef',
        REDIS_URL: 'redis://redis:6379',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  ).toString();
  say('ok', 'mcp-bridge check-config config.cluster.yaml', out.trim());
} catch (error) {
  say(
    existsSync(join(HERE, '../dist/cli.js')) ? 'FAIL' : 'skip',
    'mcp-bridge check-config',
    String(error.stderr || 'npm run build first').trim(),
  );
}

// docker-compose.yml: no engine here, so its structure: the replicas, their distinct names and
// advertised addresses, and the files it mounts.
{
  const { parse } = await import('yaml');
  const compose = parse(readFileSync(join(HERE, 'docker-compose.yml'), 'utf8'), { merge: true });
  const replicas = Object.entries(compose.services).filter(
    ([, s]) => s.environment?.BRIDGE_REPLICA_ID,
  );
  const ids = replicas.map(([, s]) => s.environment.BRIDGE_REPLICA_ID);
  const problems = [];
  if (new Set(ids).size !== ids.length) problems.push('replica ids repeat');
  for (const [name, s] of replicas) {
    if (s.environment.BRIDGE_CLUSTER_ADVERTISE !== `${name}:8091`)
      problems.push(`${name}: advertise`);
    if (!s.build && !s.image) problems.push(`${name}: no image`);
  }
  for (const s of Object.values(compose.services))
    for (const v of s.volumes ?? []) {
      const source = v.split(':')[0];
      if (source.startsWith('.') && !existsSync(join(HERE, source)))
        problems.push(`missing ${source}`);
    }
  if (!compose.services.redis || !compose.services.haproxy)
    problems.push('no redis or haproxy service');
  say(
    problems.length ? 'FAIL' : 'ok',
    `docker-compose.yml (${ids.length} replicas, redis, haproxy)`,
    problems.join(', '),
  );
}

process.stdout.write(failed ? `${failed} check(s) failed\n` : 'all checks that could run passed\n');
process.exitCode = failed ? 1 : 0;
