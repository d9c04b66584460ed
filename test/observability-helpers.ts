import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGateway, parseConfig } from '../src/index.js';
import type { Gateway, GatewayConfigInput } from '../src/index.js';
import { createLogger } from '../src/core/logger.js';
import type { Logger } from '../src/core/logger.js';
import { createObservability } from '../src/observability/observability.js';
import type { Observability } from '../src/observability/observability.js';
import { everythingStdio, waitFor } from './helpers.js';

export interface ObservedGateway {
  gateway: Gateway;
  observability: Observability;
  /** The aggregated Streamable HTTP endpoint. */
  url: URL;
  /** The admin listener, e.g. http://127.0.0.1:40123 */
  admin: string;
  close(): Promise<void>;
}

/**
 * A gateway with its observability wired as the CLI wires it, both on 127.0.0.1 port 0. Admin
 * and everything else come from `extra`; backends default to server-everything.
 */
export async function startObservedGateway(
  extra: Partial<GatewayConfigInput> = {},
  log: Logger = createLogger({
    level: (process.env.MCP_BRIDGE_TEST_LOG as 'debug') ?? 'silent',
  }),
): Promise<ObservedGateway> {
  const config = parseConfig({
    backends: { everything: everythingStdio },
    ...extra,
    server: { host: '127.0.0.1', port: 0, path: '/mcp', ...extra.server },
    admin: { host: '127.0.0.1', port: 0, ...extra.admin },
  });
  const observability = createObservability({ config, log, processMetrics: false });
  const gateway = createGateway(config, { log, policies: observability.policies });
  const address = await gateway.listen();
  const admin = await observability.listen({ gateway, gatewayAddress: address });
  return {
    gateway,
    observability,
    url: new URL(`http://127.0.0.1:${address.port}/mcp`),
    admin: admin ? `http://127.0.0.1:${admin.port}` : '',
    close: async () => {
      await gateway.close();
      await observability.close();
    },
  };
}

/** One sample of a Prometheus text exposition. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[key!] = value!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** Scrapes `/metrics`; `value(name, labels)` sums the samples whose labels include `labels`. */
export async function scrape(admin: string): Promise<{
  text: string;
  samples: Sample[];
  value(name: string, labels?: Record<string, string>): number;
}> {
  const res = await fetch(`${admin}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const text = await res.text();
  const samples = parseMetrics(text);
  return {
    text,
    samples,
    value: (name, labels = {}) =>
      samples
        .filter(
          (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
        )
        .reduce((sum, s) => sum + s.value, 0),
  };
}

/** A span as OTLP/HTTP JSON carries it (ids in hex). */
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  status?: { code?: number; message?: string };
  /** Attributes of the resource the span came with. */
  resource: Record<string, unknown>;
}

export interface OtlpReceiver {
  /** The traces endpoint, for OTEL_EXPORTER_OTLP_TRACES_ENDPOINT. */
  url: string;
  spans: OtlpSpan[];
  /** Content types of the exports received. */
  contentTypes: string[];
  waitForSpans(count: number, ms?: number): Promise<OtlpSpan[]>;
  close(): Promise<void>;
}

type AnyValue = {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
};
const plain = (v: AnyValue): unknown =>
  v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.boolValue ?? v.doubleValue));
const attributesOf = (list: Array<{ key: string; value: AnyValue }> | undefined) =>
  Object.fromEntries((list ?? []).map((a) => [a.key, plain(a.value)]));

/** A local OTLP/HTTP receiver that decodes JSON trace exports, as a collector would. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: OtlpSpan[] = [];
  const contentTypes: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      contentTypes.push(req.headers['content-type'] ?? '');
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        resourceSpans: Array<{
          resource?: { attributes?: Array<{ key: string; value: AnyValue }> };
          scopeSpans: Array<{ spans: Array<Record<string, unknown>> }>;
        }>;
      };
      for (const rs of body.resourceSpans) {
        const resource = attributesOf(rs.resource?.attributes);
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            spans.push({
              traceId: s.traceId as string,
              spanId: s.spanId as string,
              parentSpanId: (s.parentSpanId as string | undefined) || undefined,
              name: s.name as string,
              kind: s.kind as number,
              attributes: attributesOf(s.attributes as Array<{ key: string; value: AnyValue }>),
              status: s.status as OtlpSpan['status'],
              resource,
            });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    spans,
    contentTypes,
    async waitForSpans(count, ms = 10_000) {
      await waitFor(() => spans.length >= count, ms, `${count} spans at the OTLP receiver`);
      return spans;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
