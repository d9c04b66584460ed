import type { Principal } from '../core/context.js';
import { channels } from '../core/diagnostics.js';
import { GatewayError } from '../core/errors.js';

/** What a frontend holds of a session: enough to tell whose it is. */
export interface Owned {
  readonly principal: Principal | undefined;
}

/**
 * The one check every frontend makes when a request names a session it did not open on this
 * connection (an `Mcp-Session-Id`, an SSE `sessionId`, a WebSocket `attach_session`): a session
 * opened by a caller may be used by that caller only. A session opened anonymously (no
 * authentication) is anyone's who holds its id.
 */
export function claimSession<T extends Owned>(
  session: T,
  caller: Principal | undefined,
  transport: string,
): T {
  if (session.principal !== undefined && session.principal.id !== caller?.id) {
    if (channels.authFailure.hasSubscribers)
      channels.authFailure.publish({ reason: 'session_owner', transport });
    throw new GatewayError('GATEWAY_FORBIDDEN', 'this session belongs to another caller');
  }
  return session;
}
