import type { AddressInfo } from 'node:net';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { GatewayConfig } from '../config/schema.js';
import type { Logger } from '../core/logger.js';
import type { Policy } from '../core/policy.js';
import type { Gateway } from '../gateway.js';
import { createAdminServer } from './admin-server.js';
import type { AdminServer } from './admin-server.js';
import { createAudit } from './audit.js';
import type { Audit } from './audit.js';
import { reachable } from './gateway-proxy.js';
import { createHistory } from './history.js';
import type { History } from './history.js';
import { createMetrics } from './metrics.js';
import type { Metrics } from './metrics.js';
import { createTracing } from './tracing.js';
import type { Tracing } from './tracing.js';
import { tracingPolicy } from './tracing-policy.js';

/*
 * Metrics, tracing, the audit log and the admin listener, assembled from the `admin`, `tracing`
 * and `audit` sections of the configuration. Everything that counts subscribes to the core's
 * diagnostics channels; what must see a call's content (tracing, audit) is a policy.
 *
 *   const observability = createObservability({ config, log });
 *   const gateway = createGateway(config, { log, policies: observability.policies });
 *   const address = await gateway.listen();
 *   await observability.listen({ gateway, gatewayAddress: address });
 *   …
 *   await gateway.close();
 *   await observability.close();
 */

export interface ObservabilityOptions {
  config: Readonly<GatewayConfig>;
  log: Logger;
  /** Where spans go when `tracing.enabled`. @default OTLP/HTTP (JSON) as the OTEL_* variables say */
  spanExporter?: SpanExporter;
  /** Export `process_*` and `nodejs_*` metrics too. @default true */
  processMetrics?: boolean;
}

export interface AttachOptions {
  gateway: Gateway;
  /** The gateway's HTTP address (from `gateway.listen()`); without it the playground is off. */
  gatewayAddress?: AddressInfo;
}

export interface Observability {
  /** For `createGateway(config, { policies })`: tracing first (it times everything after it), then audit. */
  readonly policies: readonly Policy[];
  /** Undefined when `admin.enabled` is false: nothing would expose them. */
  readonly metrics: Metrics | undefined;
  readonly tracing: Tracing | undefined;
  /** Starts the admin listener when `admin.enabled`; resolves with its address (undefined when off). */
  listen(attach: AttachOptions): Promise<AddressInfo | undefined>;
  /** Stops the admin listener, unsubscribes, flushes spans and audit records. Call after `gateway.close()`. */
  close(): Promise<void>;
}

export function createObservability(options: ObservabilityOptions): Observability {
  const { config, log } = options;

  const metrics = config.admin.enabled
    ? createMetrics({ processMetrics: options.processMetrics })
    : undefined;
  metrics?.subscribe();
  // The dashboard's plots: only where a dashboard is served.
  const history: History | undefined = config.admin.enabled ? createHistory() : undefined;

  const tracing =
    config.tracing.enabled && process.env.OTEL_SDK_DISABLED?.toLowerCase() !== 'true'
      ? createTracing({
          serviceName: config.tracing.serviceName,
          exporter: options.spanExporter,
          log,
        })
      : undefined;

  let audit: Audit | undefined;
  if (config.audit.enabled) {
    audit = createAudit({
      destination: config.audit.destination,
      includeArguments: config.audit.includeArguments,
    });
    audit.subscribe();
  }

  const policies: Policy[] = [];
  if (tracing) policies.push(tracingPolicy({ tracer: tracing.tracer }));
  if (audit) policies.push(audit.policy);
  if (history) policies.push(history.policy);

  let admin: AdminServer | undefined;
  let closed = false;

  return {
    policies,
    metrics,
    tracing,
    async listen({ gateway, gatewayAddress }) {
      if (!config.admin.enabled || closed) return undefined;
      metrics?.seedBackends(gateway.backends(), config.breakers.enabled);
      history?.start({ backends: () => gateway.backends(), sessions: () => gateway.sessions() });
      admin = createAdminServer({
        history,
        host: config.admin.host,
        port: config.admin.port,
        metrics,
        gateway,
        target: gatewayAddress && {
          host: reachable(gatewayAddress.address),
          port: gatewayAddress.port,
          mcpPath: config.server.path,
        },
        log,
      });
      return admin.listen();
    },
    async close() {
      if (closed) return;
      closed = true;
      await admin?.close();
      metrics?.unsubscribe();
      history?.stop();
      await Promise.allSettled([
        audit?.close(),
        tracing?.shutdown().catch((error: unknown) => {
          log.warn({ err: error }, 'could not export the last spans');
        }),
      ]);
    },
  };
}
