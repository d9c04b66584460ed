import type { AddressInfo, Server, Socket } from 'node:net';
import type { TlsOptions } from 'node:tls';
import { channels } from '../core/diagnostics.js';
import { listenTcp } from './tcp-listen.js';
import type { Logger } from '../core/logger.js';
import {
  FrameDecoder,
  FrameError,
  FrameType,
  encodeFrame,
  encodeJsonFrame,
  frameTypeName,
  parsePayload,
  protocolErrorType,
} from '../core/frames.js';

/** One backend's line in a health answer, as seed 003's `checks` map has it. */
export interface TcpHealthCheck {
  healthy: boolean;
  message: string;
  /** ISO time of the backend's last state change, when there was one. */
  last_check?: string;
}

export interface TcpHealthStatus {
  healthy: boolean;
  checks: Record<string, TcpHealthCheck>;
}

export interface TcpHealthListenerOptions {
  /** Port to listen on; 0 for any free port. */
  port: number;
  host: string;
  /** Serve TLS with these, as the TCP frontend does. @default undefined */
  tls?: TlsOptions;
  /** The gateway's health, asked once per probe. */
  status(): TcpHealthStatus;
  log: Logger;
  /** A probe that sends nothing for this long is closed. @default 10_000 */
  idleTimeoutMs?: number;
}

/** A probe's frame is a few bytes; anything near this is not a probe. */
const MAX_PROBE_BYTES = 64 * 1024;

/**
 * Seed 003's TCP health port (`tcp_health_port`): a listener of its own on which each connection
 * sends one health-check frame (type 4) and gets one back, then the gateway closes it. The frame's
 * payload may be empty or `{"check":"simple"}` (answered with `{"healthy"}` alone); the answer is
 * `{"healthy","checks","timestamp"}` otherwise. Any other frame gets an error frame, never a
 * crash. Load balancers that probe TCP (an AWS NLB, say) need no HTTP for it.
 */
export class TcpHealthListener {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly options: TcpHealthListenerOptions) {}

  address(): AddressInfo | undefined {
    return (this.server?.address() as AddressInfo | null) ?? undefined;
  }

  async listen(): Promise<AddressInfo> {
    const { port, host, tls, log } = this.options;
    const server = await listenTcp({ port, host, tls, log }, (socket) => this.accept(socket));
    this.server = server;
    return server.address() as AddressInfo;
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', (error) => this.options.log.debug({ err: error }, 'TCP health probe error'));
    socket.setTimeout(this.options.idleTimeoutMs ?? 10_000, () => socket.destroy());
    const decoder = new FrameDecoder({ maxPayloadBytes: MAX_PROBE_BYTES });
    let answered = false;
    socket.on('data', (chunk: Buffer) => {
      if (answered) return;
      try {
        const [frame] = decoder.push(chunk);
        if (!frame) return;
        answered = true;
        if (channels.frame.hasSubscribers)
          channels.frame.publish({
            transport: 'tcp',
            direction: 'in',
            type: frameTypeName(frame.type),
          });
        if (frame.type !== FrameType.health) {
          throw new FrameError(
            'TCP_UNEXPECTED_FRAME',
            `the health port answers health-check frames (type ${FrameType.health}) only, not type ${frame.type}`,
          );
        }
        const probe = frame.payload.length === 0 ? {} : parsePayload(frame);
        this.answer(socket, probe);
      } catch (error) {
        answered = true;
        this.refuse(socket, error);
      }
    });
  }

  private answer(socket: Socket, probe: unknown): void {
    const status = this.options.status();
    const simple =
      typeof probe === 'object' &&
      probe !== null &&
      (probe as Record<string, unknown>).check === 'simple';
    const body = simple
      ? { healthy: status.healthy }
      : {
          healthy: status.healthy,
          checks: status.checks,
          timestamp: Math.floor(Date.now() / 1000),
        };
    socket.end(encodeJsonFrame(FrameType.health, body));
    if (channels.frame.hasSubscribers)
      channels.frame.publish({ transport: 'tcp', direction: 'out', type: 'health_check' });
  }

  private refuse(socket: Socket, error: unknown): void {
    const known = error instanceof FrameError;
    if (channels.tcpProtocolError.hasSubscribers)
      channels.tcpProtocolError.publish({
        type: known ? `health_${protocolErrorType(error.code)}` : 'health_internal',
      });
    if (!known) this.options.log.error({ err: error }, 'TCP health probe failed');
    const text = known ? error.message : 'TCP_INTERNAL: the probe failed';
    socket.end(encodeFrame(FrameType.error, text));
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
