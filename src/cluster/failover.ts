import { GatewayError, toErrorReply } from '../core/errors.js';
import type { JSONRPCReply, RequestId } from '../core/jsonrpc.js';
import { LOG_LEVELS } from '../core/jsonrpc.js';
import type { ClusterStore, SessionRecord } from './store.js';
import type { ClusterSessionTransport } from './transport.js';

/*
 * What continuing a dead replica's session involves besides a new backend: ending the requests
 * that were in flight on a stream, and telling the client, as far as it listens, that the
 * backend restarted.
 */

/** Event sequence numbers skipped before the error that ends a dead replica's stream: events
 * the client may have seen that had not reached Redis yet are not numbered twice. */
const SEQ_MARGIN = 64;

/** Requests that were answered on a stream when the owner died: each stream ends in a retryable error. */
export async function failInflight(
  store: ClusterStore,
  sid: string,
  record: SessionRecord,
): Promise<void> {
  const entries = Object.entries(record.inflight);
  if (entries.length === 0) return;
  for (const [idJson, stream] of entries) {
    const id = JSON.parse(idJson) as RequestId;
    const seq = (await store.lastSeq(sid, stream)) + SEQ_MARGIN;
    const error = toErrorReply(id, restarted());
    await store.append(sid, stream, seq, JSON.stringify(error), false);
  }
  await store.clearInflight(sid);
}

/** Tells the client, as far as it listens, that the backend restarted and its lists may differ. */
export function tellClient(
  transport: ClusterSessionTransport,
  record: SessionRecord,
  reply: JSONRPCReply,
): void {
  const level = LOG_LEVELS.indexOf(record.logLevel);
  if (record.logLevel && level >= 0 && level <= LOG_LEVELS.indexOf('warning')) {
    void transport.send({
      jsonrpc: '2.0',
      method: 'notifications/message',
      params: {
        level: 'warning',
        logger: 'mcp-bridge',
        data: 'the replica serving this session died; it continues on another with a new backend process, whose state starts afresh',
      },
    });
  }
  const capabilities = ('result' in reply ? reply.result.capabilities : undefined) as
    Record<string, { listChanged?: boolean } | undefined> | undefined;
  for (const kind of ['tools', 'resources', 'prompts']) {
    if (capabilities?.[kind]?.listChanged)
      void transport.send({ jsonrpc: '2.0', method: `notifications/${kind}/list_changed` });
  }
}

export function restarted(): GatewayError {
  return new GatewayError(
    'GATEWAY_BACKEND_RESTARTED',
    'the replica serving this request died while it was in flight; it may or may not have run. The session continues: retry it if that is safe',
    { data: { retryable: true } },
  );
}

/** The id of a single JSON-RPC request in `body`, for its error reply. */
export function requestIdOf(body: Buffer): RequestId | null {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { id?: unknown };
    return typeof parsed.id === 'string' || typeof parsed.id === 'number' ? parsed.id : null;
  } catch {
    return null;
  }
}
