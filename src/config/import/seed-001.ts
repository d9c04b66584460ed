import type { ConversionResult, DroppedKey } from './shared.js';
import { backendName, dropRest, durationMs, isPlain } from './shared.js';

/*
 * Seed 001 (a Python REST gateway): `config/services.yaml`, a `services` mapping of id to
 * `{name, endpoint, transport: http|stdio, command[], working_directory, environment, timeout,
 * enabled, health_check_path, auth{strategy, custom_headers, …}}`. Each service becomes one
 * backend under its id.
 */

type Plain = Record<string, unknown>;

/** Whether the file has seed 001's shape: a `services` mapping of mappings, nothing of ours. */
export function isSeed001(doc: Plain): boolean {
  return (
    isPlain(doc.services) &&
    !('backends' in doc) &&
    Object.values(doc.services).every(
      (s) => isPlain(s) && ('endpoint' in s || 'transport' in s || 'command' in s),
    )
  );
}

export function convertSeed001(doc: Plain): ConversionResult {
  const dropped: DroppedKey[] = [];
  const notes: string[] = [];
  const backends: Plain = {};
  dropRest(dropped, '', doc, ['services'], () => 'not part of the service registry format');
  for (const [id, raw] of Object.entries(doc.services as Plain)) {
    const service = raw as Plain;
    const at = `services.${id}.`;
    const name = backendName(id);
    if (name !== id)
      notes.push(`services.${id} is the backend "${name}" (a name our schema accepts)`);
    const backend: Plain = {};
    const used = ['transport', 'enabled', 'timeout', 'name'];
    const transport = service.transport ?? (service.command !== undefined ? 'stdio' : 'http');
    if (transport === 'stdio') {
      used.push('command', 'working_directory', 'environment');
      const command = Array.isArray(service.command)
        ? service.command.map(String)
        : typeof service.command === 'string'
          ? [service.command]
          : [];
      if (command.length === 0) {
        dropped.push({
          key: `${at}command`,
          reason: 'a stdio service needs a command; none given, so the service is left out',
        });
        continue;
      }
      backend.command = command[0];
      if (command.length > 1) backend.args = command.slice(1);
      if (typeof service.working_directory === 'string') backend.cwd = service.working_directory;
      if (isPlain(service.environment)) {
        backend.env = Object.fromEntries(
          Object.entries(service.environment).map(([k, v]) => [k, String(v)]),
        );
      }
    } else if (transport === 'http') {
      used.push('endpoint');
      if (typeof service.endpoint !== 'string') {
        dropped.push({
          key: `${at}endpoint`,
          reason: 'an http service needs an endpoint URL; none given, so the service is left out',
        });
        continue;
      }
      // Seed 001 speaks Streamable HTTP to its services (the SDK's streamablehttp_client).
      backend.transport = 'streamable-http';
      backend.url = service.endpoint;
    } else {
      dropped.push({
        key: `${at}transport`,
        reason: `unknown transport "${String(transport)}" (seed 001 has http and stdio); the service is left out`,
      });
      continue;
    }
    if (service.enabled === false) backend.enabled = false;
    const timeout = durationMs(service.timeout);
    if (timeout !== undefined) backend.timeoutMs = timeout;
    else if (service.timeout !== undefined)
      dropped.push({ key: `${at}timeout`, reason: 'expected a number of seconds' });
    if (service.name !== undefined)
      dropped.push({
        key: `${at}name`,
        reason: `a display name; a backend is named by its key, "${name}"`,
      });
    if (isPlain(service.auth))
      convertAuth(service.auth, `${at}auth.`, backend, transport === 'http', dropped);
    else if (service.auth !== undefined)
      dropped.push({ key: `${at}auth`, reason: 'expected a mapping' });
    used.push('auth');
    dropRest(dropped, at, service, used, (key) =>
      key === 'health_check_path'
        ? 'mcp-bridge checks a backend with MCP ping, not an HTTP path'
        : 'not a setting mcp-bridge has for a backend',
    );
    backends[name] = backend;
  }
  return {
    seed: '001',
    format: 'seed 001 service registry (config/services.yaml)',
    config: { backends },
    dropped,
    notes,
  };
}

/** `auth.strategy` and its keys: what the backend is told of the caller. */
function convertAuth(
  auth: Plain,
  at: string,
  backend: Plain,
  remote: boolean,
  dropped: DroppedKey[],
): void {
  const used = ['strategy', 'custom_headers'];
  const strategy = auth.strategy ?? 'none';
  if (strategy === 'none') backend.credentials = { type: 'none' };
  else if (strategy === 'passthrough') backend.credentials = { type: 'passthrough' };
  else if (strategy === 'obo_required') {
    dropped.push({
      key: `${at}strategy`,
      reason:
        'on-behalf-of needs a client secret the file does not hold; set credentials: {type: exchange, tokenUrl, clientId, clientSecret: "${VAR}"} on the backend (docs/migrating.md)',
    });
  } else dropped.push({ key: `${at}strategy`, reason: `unknown strategy "${String(strategy)}"` });
  if (isPlain(auth.custom_headers)) {
    if (remote) {
      backend.headers = Object.fromEntries(
        Object.entries(auth.custom_headers).map(([k, v]) => [k, String(v)]),
      );
    } else
      dropped.push({ key: `${at}custom_headers`, reason: 'a stdio backend has no HTTP headers' });
  }
  dropRest(dropped, at, auth, used, () =>
    strategy === 'obo_required'
      ? 'part of the on-behalf-of exchange, which is not converted (see strategy)'
      : 'not used by this strategy',
  );
}
