export { createGateway } from './gateway.js';
export type { Gateway, GatewayOptions, SessionSummary, ReloadResult } from './gateway.js';
export { parseConfig, configSchema, ConfigError } from './config/schema.js';
export type {
  GatewayConfig,
  GatewayConfigInput,
  BackendConfig,
  StdioBackendConfig,
} from './config/schema.js';
export { quickModeConfig } from './config/quick-mode.js';
export { loadConfig, ConfigLoadError } from './config/load.js';
export type { ConfigOverrides, LoadOptions } from './config/load.js';
export { configJsonSchema } from './config/json-schema.js';
export { splitCommandLine } from './config/command-line.js';
export { Session } from './session/session.js';
export type { ClientTransport, SessionOptions } from './session/session.js';
export { compose, RequestContext } from './core/policy.js';
export type { Policy, Next, Outcome, Principal, Route, SessionRef } from './core/policy.js';
export { BackendTarget } from './targets/backend-target.js';
export { BackendLink } from './targets/link.js';
export type { Upstream, ServerRequest } from './targets/link.js';
export type { SessionTarget, TargetDescription } from './targets/target.js';
export type { BackendTransport } from './backends/transport.js';
export { GatewayError, ERROR_TABLE, toErrorReply } from './core/errors.js';
export type { GatewayErrorCode } from './core/errors.js';
export { channels } from './core/diagnostics.js';
export { createLogger } from './core/logger.js';
export { createObservability } from './observability/observability.js';
export type { Observability, ObservabilityOptions } from './observability/observability.js';
export { tracingPolicy } from './observability/tracing-policy.js';
export { StdioBackendTransport, DEFAULT_INHERITED_ENV } from './backends/stdio-backend.js';
export type { StdioBackendOptions } from './backends/stdio-backend.js';
export { StreamableHttpHandler } from './frontends/streamable-http.js';
export { StreamableHttpSessionTransport } from './frontends/streamable-http-session.js';
// The framed TCP protocol and the connector (issue 15).
export { TcpFrontend } from './frontends/tcp.js';
export type { TcpFrontendOptions } from './frontends/tcp.js';
export { TcpBackendTransport } from './backends/tcp-backend.js';
export type { TcpBackendOptions } from './backends/tcp-backend.js';
export {
  FrameDecoder,
  FrameError,
  FrameType,
  encodeFrame,
  encodeJsonFrame,
  FRAME_MAGIC,
} from './core/frames.js';
export type { Frame, FrameErrorCode } from './core/frames.js';
export { Connector } from './connector/connector.js';
export type { ConnectorOptions, LinkState } from './connector/connector.js';
export { StaticCredentials } from './connector/credentials.js';
export type { CredentialsProvider } from './connector/credentials.js';
