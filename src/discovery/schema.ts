import { z } from 'zod';

/*
 * `backends.<name>.discovery` of a remote backend: where its replicas come from, besides `url`
 * and `replicas`. The list found feeds the backend's balancer (src/backends/balancer.ts) and is
 * looked up again every `intervalMs`; a lookup that fails or finds nothing keeps the last list.
 */

/** A URL (checked here: a JSON Schema `format` would need one more Ajv plugin in editors). */
const url = z
  .string()
  .min(1)
  .refine((value) => URL.canParse(value), { message: 'expected a URL' });

/** How often the list is looked up again. */
const every = { intervalMs: z.number().int().min(100).default(10_000) };

const target = {
  ...every,
  /** Scheme of the URLs built from found addresses. */
  scheme: z.enum(['http', 'https', 'ws', 'wss']).default('http'),
  /** Path of the URLs built from found addresses. */
  path: z.string().startsWith('/').default('/mcp'),
};

export const discoverySchema = z.discriminatedUnion('type', [
  /** A fixed list of URLs (the same as `replicas`, in discovery's terms). */
  z.object({ type: z.literal('static'), urls: z.array(url).min(1), ...every }).strict(),
  /** A file of URLs, one a line (or a JSON array of URLs or `{url, weight}`), read again when it changes. */
  z.object({ type: z.literal('file'), path: z.string().min(1), ...every }).strict(),
  /** DNS: SRV records (target and port), or A/AAAA records with `port`. */
  z
    .object({
      type: z.literal('dns'),
      name: z.string().min(1),
      record: z.enum(['SRV', 'A', 'AAAA']).default('SRV'),
      port: z.number().int().min(1).max(65535).optional(),
      ...target,
    })
    .strict(),
  /** Kubernetes EndpointSlices of a Service (or any label selector), ready endpoints only. */
  z
    .object({
      type: z.literal('kubernetes'),
      service: z.string().min(1).optional(),
      labelSelector: z.string().min(1).optional(),
      namespace: z.string().min(1).optional(),
      /** The port's name in the slice; default: its first port. */
      portName: z.string().min(1).optional(),
      /** The API server; default: the in-cluster one (KUBERNETES_SERVICE_HOST, the service account's token and CA). */
      apiUrl: url.optional(),
      ...target,
    })
    .strict(),
  /** The Consul catalog: instances of a service whose health checks pass. */
  z
    .object({
      type: z.literal('consul'),
      service: z.string().min(1),
      address: url.default('http://127.0.0.1:8500'),
      tag: z.string().min(1).optional(),
      /** An ACL token; `${CONSUL_HTTP_TOKEN}` from the environment works. */
      token: z.string().min(1).optional(),
      ...target,
    })
    .strict(),
]);

export type DiscoveryConfig = z.infer<typeof discoverySchema>;
