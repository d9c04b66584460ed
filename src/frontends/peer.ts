import type { IncomingMessage } from 'node:http';
import { principalOf } from '../auth/http-guard.js';
import type { PeerInfo } from './types.js';

/** What a frontend tells the gateway of the client behind an HTTP request. */
export function peerOf(req: IncomingMessage): PeerInfo {
  return { remoteAddress: req.socket.remoteAddress, principal: principalOf(req) };
}
