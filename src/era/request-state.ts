import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * The `requestState` the bridge hands a modern client when it turns a legacy server's request
 * into an `input_required` round. The client sends it back verbatim with its answers, and it is
 * the client's to tamper with, so it is sealed: AES-256-GCM under the gateway's key, binding the
 * continuation to its caller, its request (method and params), its replica and an expiry.
 * Several keys may be configured: the first seals, all open, so a key can be rotated.
 */

/** What a sealed state proves once opened. */
export interface ContinuationClaims {
  /** The continuation's id on the replica that holds it. */
  readonly continuation: string;
  readonly replica: string;
  /** A digest of the caller's principal id (`-` when anonymous). */
  readonly principal: string;
  readonly method: string;
  /** A digest of the request's params (without the round's own fields). */
  readonly params: string;
  /** Expiry, ms since the epoch. */
  readonly expires: number;
}

/** Every state the bridge seals starts with this, so that a backend's own state is told apart. */
export const STATE_PREFIX = 'mcpb1.';

const IV_BYTES = 12;
const TAG_BYTES = 16;

export const digest = (text: string): string =>
  createHash('sha256').update(text).digest('base64url').slice(0, 22);

/** Why a state was refused; the client is told only that it is invalid or expired. */
export type OpenFailure = 'malformed' | 'forged' | 'expired';

export class RequestStateSealer {
  private readonly keys: Buffer[];

  /** `keys`: base64 32-byte keys, the sealing one first; none: a random key for this process. */
  constructor(keys: readonly string[] = []) {
    this.keys = keys.length === 0 ? [randomBytes(32)] : keys.map(decodeKey);
  }

  seal(claims: ContinuationClaims): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keys[0]!, iv);
    const body = Buffer.concat([cipher.update(JSON.stringify(claims), 'utf8'), cipher.final()]);
    const sealed = Buffer.concat([iv, cipher.getAuthTag(), body]);
    return STATE_PREFIX + sealed.toString('base64url');
  }

  /** The claims of a state the gateway sealed and that has not expired, or why not. */
  open(state: string, now = Date.now()): ContinuationClaims | OpenFailure {
    if (!state.startsWith(STATE_PREFIX)) return 'malformed';
    const raw = Buffer.from(state.slice(STATE_PREFIX.length), 'base64url');
    if (raw.length <= IV_BYTES + TAG_BYTES) return 'malformed';
    const iv = raw.subarray(0, IV_BYTES);
    const tag = raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES);
    const body = raw.subarray(IV_BYTES + TAG_BYTES);
    for (const key of this.keys) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, iv);
        decipher.setAuthTag(tag);
        const text = Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
        const claims = JSON.parse(text) as ContinuationClaims;
        return claims.expires < now ? 'expired' : claims;
      } catch {
        // Not this key (or not ours at all): try the next.
      }
    }
    return 'forged';
  }
}

function decodeKey(text: string, index: number): Buffer {
  const key = Buffer.from(text, 'base64');
  if (key.length !== 32) {
    throw new Error(
      `modern.stateKeys[${index}]: a key must be 32 bytes, base64-encoded (make one with: openssl rand -base64 32)`,
    );
  }
  return key;
}
