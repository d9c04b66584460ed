import type { JSONRPCRequest, RequestId } from '../core/jsonrpc.js';
import { SAFE_METHODS } from '../policies/retry.js';
import type { Resumable } from './held-streams.js';

/** A client request sent to the remote under an id of the connector's. */
export interface InFlight extends Resumable {
  clientId: RequestId;
  request: JSONRPCRequest;
  /** The remote said it did not run it (404, unreachable): safe to send again, whatever it is. */
  notRun?: boolean;
}

/** Requests re-sent after a break: those that change nothing, plus the ones a restore replays. */
const RESENDABLE = new Set([
  ...SAFE_METHODS,
  'logging/setLevel',
  'resources/subscribe',
  'resources/unsubscribe',
]);

/**
 * What becomes of each request in flight when the link breaks: sent `again` on the next link
 * (it changes nothing, or it never ran), held for the same session (`hold`, by remote id: its
 * stream can be resumed, or the remote keeps its reply), or `lost` (it may have run: the client
 * gets a definite error, and it is never sent twice).
 */
export function triage(
  inFlight: Map<number, InFlight>,
  how: {
    /** The client's session had been set up (an initialize in flight is then not first contact). */
    established: boolean;
    /** The session the remote may still hold, if any. */
    session: string | undefined;
    /** The remote keeps the session's replies for a new connection (the control dialect). */
    keepsReplies: boolean;
  },
): { again: JSONRPCRequest[]; hold: Map<number, InFlight>; lost: InFlight[] } {
  const again: JSONRPCRequest[] = [];
  const hold = new Map<number, InFlight>();
  const lost: InFlight[] = [];
  for (const [remoteId, entry] of inFlight) {
    const { method } = entry.request;
    const firstContact = method === 'initialize' && !how.established;
    if (entry.notRun || RESENDABLE.has(method) || firstContact) again.push(entry.request);
    else if (how.session && (entry.resumeToken || how.keepsReplies)) hold.set(remoteId, entry);
    else lost.push(entry);
  }
  return { again, hold, lost };
}

export function seconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 100) / 10} s`;
}
