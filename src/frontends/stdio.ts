/*
 * The stdio frontend: MCP's stdio transport served over a pair of byte streams (the gateway's own
 * stdin/stdout in `--serve stdio` mode), and the Unix socket listener that serves it to each
 * connection. Two files, one import for the gateway.
 */
export { StdioServerTransport, refuseClient } from './stdio-server-transport.js';
export type { StdioServerTransportOptions } from './stdio-server-transport.js';
export { UnixSocketFrontend } from './unix-socket.js';
export type { UnixSocketOptions } from './unix-socket.js';
