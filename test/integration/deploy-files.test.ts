import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/*
 * The deployment files (deploy/): whatever deploy/check.mjs can check on this machine (haproxy
 * -c, nginx -t, systemd-analyze verify, helm lint and template when helm is there, a schema check
 * of the Kubernetes objects when kubernetes-models is, the cluster config, the compose file)
 * passes; what it cannot, it says it skipped.
 */
const script = fileURLToPath(new URL('../../deploy/check.mjs', import.meta.url));

describe('deployment files', () => {
  it('pass every check this machine can run', () => {
    const out = execFileSync(process.execPath, [script], { encoding: 'utf8' });
    expect(out).not.toMatch(/^FAIL/m);
    expect(out).toContain('all checks that could run passed');
    expect(out).toMatch(/^(ok|skip) +mcp-bridge check-config/m);
  }, 30_000);
});
