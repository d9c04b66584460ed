import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/schema.js';
import type { GatewayConfigInput } from '../config/schema.js';
import { exposureWarning, isLoopbackHost } from './exposure.js';

const config = (server: GatewayConfigInput['server'], auth: GatewayConfigInput['auth'] = {}) =>
  parseConfig({ server, auth, backends: { x: { command: 'x' } } });

describe('binding a non-loopback host without auth', () => {
  it.each(['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]'])('%s is loopback', (host) =>
    expect(isLoopbackHost(host)).toBe(true),
  );
  it.each(['0.0.0.0', '::', '10.0.0.5', 'gateway.internal'])('%s is not', (host) =>
    expect(isLoopbackHost(host)).toBe(false),
  );

  it('used to start silently: now it is warned about, naming the host and the fix', () => {
    const warning = exposureWarning(config({ host: '0.0.0.0' }));
    expect(warning).toContain('0.0.0.0 without authentication');
    expect(warning).toContain('auth.required');
    // Keys alone do not make it safe: without auth.required a request without any is served.
    expect(exposureWarning(config({ host: '0.0.0.0' }, { apiKeys: ['k-12345678'] }))).toBeDefined();
  });

  it('says nothing on loopback or when credentials are required', () => {
    expect(exposureWarning(config({ host: '127.0.0.1' }))).toBeUndefined();
    expect(
      exposureWarning(config({ host: '0.0.0.0' }, { required: true, apiKeys: ['k-12345678'] })),
    ).toBeUndefined();
  });
});
