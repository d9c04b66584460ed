import { readFile } from 'node:fs/promises';
import { promises as dnsPromises } from 'node:dns';
import type { DiscoveryConfig } from './schema.js';

/*
 * The sources of a backend's replicas (docs/traffic.md#service-discovery): each turns its
 * configuration into a lookup that returns the URLs serving the backend now.
 */

export interface Found {
  url: string;
  weight: number;
}

export type Lookup = () => Promise<Found[]>;

/** What the lookups use from outside, replaceable in tests. */
export interface SourceDeps {
  resolver?: Pick<dnsPromises.Resolver, 'resolveSrv' | 'resolve4' | 'resolve6'>;
  fetch?: typeof fetch;
  readFile?: (path: string) => Promise<string>;
  env?: NodeJS.ProcessEnv;
}

const hostPort = (host: string, port: number) =>
  host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;

function urlOf(c: { scheme: string; path: string }, host: string, port: number): string {
  return `${c.scheme}://${hostPort(host, port)}${c.path}`;
}

export function lookupOf(config: DiscoveryConfig, deps: SourceDeps = {}): Lookup {
  switch (config.type) {
    case 'static':
      return async () => config.urls.map((url) => ({ url, weight: 1 }));
    case 'file':
      return async () =>
        parseList(await (deps.readFile ?? ((p) => readFile(p, 'utf8')))(config.path));
    case 'dns':
      return dnsLookup(config, deps.resolver ?? new dnsPromises.Resolver());
    case 'kubernetes':
      return kubernetesLookup(config, deps);
    case 'consul':
      return consulLookup(config, deps);
  }
}

/** A file's URLs: a JSON array (of URLs or `{url, weight}`), or one URL a line (`#` comments). */
export function parseList(text: string): Found[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    const items = JSON.parse(trimmed) as Array<string | { url: string; weight?: number }>;
    return items.map((item) =>
      typeof item === 'string'
        ? { url: item, weight: 1 }
        : { url: item.url, weight: item.weight ?? 1 },
    );
  }
  return trimmed
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter(Boolean)
    .map((line) => {
      const [url, weight] = line.split(/\s+/);
      return { url: new URL(url!).href, weight: Number(weight ?? 1) || 1 };
    });
}

function dnsLookup(
  config: Extract<DiscoveryConfig, { type: 'dns' }>,
  resolver: NonNullable<SourceDeps['resolver']>,
): Lookup {
  return async () => {
    if (config.record === 'SRV') {
      const records = await resolver.resolveSrv(config.name);
      // The lowest priority present; weights as SRV gives them (0 counts as 1).
      const best = Math.min(...records.map((r) => r.priority));
      return records
        .filter((r) => r.priority === best)
        .map((r) => ({
          url: urlOf(config, r.name, r.port),
          weight: Math.max(1, Math.min(1000, r.weight)),
        }));
    }
    if (config.port === undefined)
      throw new Error(`discovery.port is needed for ${config.record} records`);
    const addresses =
      config.record === 'A'
        ? await resolver.resolve4(config.name)
        : await resolver.resolve6(config.name);
    return addresses.map((address) => ({ url: urlOf(config, address, config.port!), weight: 1 }));
  };
}

interface EndpointSlice {
  ports?: Array<{ name?: string; port?: number }>;
  endpoints?: Array<{
    addresses: string[];
    conditions?: { ready?: boolean; terminating?: boolean };
  }>;
}

function kubernetesLookup(
  config: Extract<DiscoveryConfig, { type: 'kubernetes' }>,
  deps: SourceDeps,
): Lookup {
  const env = deps.env ?? process.env;
  const doFetch = deps.fetch ?? fetch;
  const SA = '/var/run/secrets/kubernetes.io/serviceaccount';
  const read = deps.readFile ?? ((p: string) => readFile(p, 'utf8'));
  return async () => {
    const api =
      config.apiUrl ??
      `https://${hostPort(env.KUBERNETES_SERVICE_HOST ?? 'kubernetes.default.svc', Number(env.KUBERNETES_SERVICE_PORT ?? 443))}`;
    const namespace =
      config.namespace ?? (await read(`${SA}/namespace`).catch(() => 'default')).trim();
    const selector = config.labelSelector ?? `kubernetes.io/service-name=${config.service ?? ''}`;
    const token = await read(`${SA}/token`).catch(() => undefined);
    // The in-cluster CA is the one NODE_EXTRA_CA_CERTS should name (the chart does); plain fetch
    // has no per-request CA.
    const res = await doFetch(
      `${api}/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/endpointslices?labelSelector=${encodeURIComponent(selector)}`,
      {
        headers: {
          accept: 'application/json',
          ...(token && { authorization: `Bearer ${token.trim()}` }),
        },
      },
    );
    if (!res.ok) throw new Error(`Kubernetes API: ${res.status} ${res.statusText}`);
    const { items } = (await res.json()) as { items: EndpointSlice[] };
    const found: Found[] = [];
    for (const slice of items) {
      const port = (
        config.portName ? slice.ports?.find((p) => p.name === config.portName) : slice.ports?.[0]
      )?.port;
      if (port === undefined) continue;
      for (const endpoint of slice.endpoints ?? []) {
        // `ready` absent means ready; a terminating endpoint takes no new sessions.
        if (endpoint.conditions?.ready === false || endpoint.conditions?.terminating === true)
          continue;
        for (const address of endpoint.addresses)
          found.push({ url: urlOf(config, address, port), weight: 1 });
      }
    }
    return found;
  };
}

interface ConsulEntry {
  Node: { Address: string };
  Service: { Address?: string; Port: number; Weights?: { Passing?: number } };
}

function consulLookup(
  config: Extract<DiscoveryConfig, { type: 'consul' }>,
  deps: SourceDeps,
): Lookup {
  const doFetch = deps.fetch ?? fetch;
  return async () => {
    const query = new URLSearchParams({ passing: 'true' });
    if (config.tag) query.set('tag', config.tag);
    const res = await doFetch(
      `${config.address.replace(/\/$/, '')}/v1/health/service/${encodeURIComponent(config.service)}?${query}`,
      {
        headers: {
          accept: 'application/json',
          ...(config.token && { 'x-consul-token': config.token }),
        },
      },
    );
    if (!res.ok) throw new Error(`Consul: ${res.status} ${res.statusText}`);
    const entries = (await res.json()) as ConsulEntry[];
    return entries.map((e) => ({
      url: urlOf(config, e.Service.Address || e.Node.Address, e.Service.Port),
      weight: Math.max(1, Math.min(1000, e.Service.Weights?.Passing ?? 1)),
    }));
  };
}
