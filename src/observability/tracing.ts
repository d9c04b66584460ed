import { DiagLogLevel, diag } from '@opentelemetry/api';
import type { Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { version } from '../version.js';

/*
 * The OpenTelemetry SDK, set up the way the standard OTEL_* variables say: the exporter reads
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT (+ /v1/traces), …_HEADERS and
 * …_TIMEOUT; the sampler OTEL_TRACES_SAMPLER(_ARG); the batch processor OTEL_BSP_*; the resource
 * OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (over `tracing.serviceName`). The provider is
 * not registered globally: each gateway has its own, so several can live in one process.
 */

export interface TracingOptions {
  /** `service.name` unless OTEL_SERVICE_NAME says otherwise. @default 'mcp-bridge' */
  serviceName?: string;
  /** Where spans go. @default OTLP over HTTP, JSON encoding, as the OTEL_* variables configure it */
  exporter?: SpanExporter;
  /**
   * Where the SDK's own warnings go (an unreachable collector, say); OpenTelemetry keeps one such
   * logger per process, so the last gateway set up wins. @default silent, as the SDK is
   */
  log?: { warn(object: object, message: string): void };
}

export interface Tracing {
  readonly tracer: Tracer;
  /** Exports every span ended so far. */
  forceFlush(): Promise<void>;
  /** Exports what is left and stops. */
  shutdown(): Promise<void>;
}

export function createTracing(options: TracingOptions = {}): Tracing {
  const log = options.log;
  if (log) {
    const warn = (message: string, ...args: unknown[]) =>
      log.warn({ details: args.map(String) }, `OpenTelemetry: ${message}`);
    const quiet = () => {};
    diag.setLogger(
      { error: warn, warn, info: quiet, debug: quiet, verbose: quiet },
      { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
    );
  }
  const resource = defaultResource()
    .merge(
      resourceFromAttributes({
        [ATTR_SERVICE_NAME]: options.serviceName ?? 'mcp-bridge',
        [ATTR_SERVICE_VERSION]: version,
      }),
    )
    .merge(detectResources({ detectors: [envDetector] }));
  const provider = new BasicTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(options.exporter ?? new OTLPTraceExporter())],
  });
  return {
    tracer: provider.getTracer('mcp-bridge', version),
    forceFlush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}
