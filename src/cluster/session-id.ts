import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Principal } from '../core/context.js';

/*
 * Session ids of a cluster: `v1.<replicaId>.<22 base64url characters of 128 random bits>.<tag>`.
 * The replica that minted the id is its prefix, so a load balancer can route by it
 * (`use-server r1 if { req.hdr(mcp-session-id) -m beg v1.r1. }`); the secret part is the
 * randomness. The tag is an HMAC of the rest under the cluster secret, cut to 64 bits: an id
 * that was not minted by a replica of this cluster (a forged prefix, a guessed id) is refused
 * before any Redis access. Nothing else is in the id: what a session is lives in its record.
 */

const PATTERN = /^v1\.([A-Za-z0-9-]{1,63})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{11})$/;

function tag(secret: string, body: string): string {
  return createHmac('sha256', secret).update(body).digest().subarray(0, 8).toString('base64url');
}

export function mintSessionId(secret: string, replicaId: string): string {
  const body = `v1.${replicaId}.${randomBytes(16).toString('base64url')}`;
  return `${body}.${tag(secret, body)}`;
}

/** The replica that minted `id`, or undefined when `id` is not a genuine id of this cluster. */
export function verifySessionId(secret: string, id: string): string | undefined {
  const match = PATTERN.exec(id);
  if (!match) return undefined;
  const body = id.slice(0, id.length - 12);
  const expected = Buffer.from(tag(secret, body));
  const given = Buffer.from(match[3]!);
  return given.length === expected.length && timingSafeEqual(given, expected)
    ? match[1]
    : undefined;
}

/** Whose a session is, as its record says it: a hash of the principal's id, `''` when anonymous. */
export function principalHash(principal: Principal | undefined): string {
  return principal ? createHash('sha256').update(principal.id).digest('base64url') : '';
}
