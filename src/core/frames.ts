/*
 * The framed TCP protocol's codec (docs/tcp-protocol.md): a 12-byte big-endian header, then the
 * payload.
 *
 *   offset 0  u32  magic 0x4D435042 ("MCPB")
 *   offset 4  u16  version (1)
 *   offset 6  u16  type (1..7)
 *   offset 8  u32  payload length in bytes
 *
 * The decoder is fed TCP chunks as they come: frames split across chunks and frames joined
 * within one are both found, and every payload byte is copied at most once (a payload inside one
 * chunk is a view of it, one spread over several is assembled once), so a 10 MiB frame arriving
 * in 64 KiB pieces costs one copy, not a quadratic series of them.
 */

export const FRAME_MAGIC = 0x4d435042;
export const FRAME_VERSION = 1;
/** The protocol versions this implementation speaks. */
export const SUPPORTED_FRAME_VERSIONS: readonly number[] = [1];
export const FRAME_HEADER_BYTES = 12;
/** Largest payload accepted unless configured otherwise: 10 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 10 * 1024 * 1024;

export const FrameType = {
  /** Client → gateway: a JSON-RPC message, or `{"auth_token","message"}`. */
  request: 1,
  /** Gateway → client: a JSON-RPC message (reply, notification or server request). */
  response: 2,
  /** Either way: a JSON control message. */
  control: 3,
  /** Either way: `{"kind":"ping"}` is answered with `{"kind":"pong"}`. */
  health: 4,
  /** Either way: UTF-8 text saying what was wrong; the sender then closes. */
  error: 5,
  /** Client → gateway, first: `{"min_version","max_version","preferred_version","supported_versions"}`. */
  version: 6,
  /** Gateway → client: `{"agreed_version"}`. */
  versionAck: 7,
} as const;

export type FrameTypeNumber = (typeof FrameType)[keyof typeof FrameType];

/** A frame type as the seed's metrics name it (`health_check`, `version_negotiation`, …). */
export function frameTypeName(type: FrameTypeNumber): string {
  return FRAME_TYPE_NAMES[type];
}

const FRAME_TYPE_NAMES: Readonly<Record<FrameTypeNumber, string>> = {
  [FrameType.request]: 'request',
  [FrameType.response]: 'response',
  [FrameType.control]: 'control',
  [FrameType.health]: 'health_check',
  [FrameType.error]: 'error',
  [FrameType.version]: 'version_negotiation',
  [FrameType.versionAck]: 'version_ack',
};

/** `TCP_FRAME_TOO_LARGE` → `frame_too_large`: the `error_type` label. */
export function protocolErrorType(code: string): string {
  return code.replace(/^TCP_/, '').toLowerCase();
}

export interface Frame {
  type: FrameTypeNumber;
  version: number;
  payload: Buffer;
}

/** Stable codes of protocol failures; an error frame's text starts with one. */
export type FrameErrorCode =
  | 'TCP_BAD_MAGIC'
  | 'TCP_UNSUPPORTED_VERSION'
  | 'TCP_UNKNOWN_TYPE'
  | 'TCP_FRAME_TOO_LARGE'
  | 'TCP_BAD_PAYLOAD'
  | 'TCP_UNEXPECTED_FRAME'
  | 'TCP_NO_COMMON_VERSION'
  | 'TCP_UNAUTHORIZED';

/** A frame that breaks the protocol; the connection it came on is answered and closed. */
export class FrameError extends Error {
  constructor(
    readonly code: FrameErrorCode,
    detail: string,
  ) {
    super(`${code}: ${detail}`);
    this.name = 'FrameError';
  }
}

const KNOWN_TYPES = new Set<number>(Object.values(FrameType));

/** The 12 header bytes of a frame of `type` carrying `payloadBytes`. */
export function encodeHeader(type: FrameTypeNumber, payloadBytes: number, version = FRAME_VERSION) {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE(FRAME_MAGIC, 0);
  header.writeUInt16BE(version, 4);
  header.writeUInt16BE(type, 6);
  header.writeUInt32BE(payloadBytes, 8);
  return header;
}

/** A whole frame in one buffer (header and payload). */
export function encodeFrame(type: FrameTypeNumber, payload: Buffer | string = ''): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  return Buffer.concat([encodeHeader(type, body.length), body]);
}

/** A frame whose payload is `value` as JSON. */
export function encodeJsonFrame(type: FrameTypeNumber, value: unknown): Buffer {
  return encodeFrame(type, JSON.stringify(value));
}

/** Parses a frame's payload as JSON; a payload that is not is a TCP_BAD_PAYLOAD. */
export function parsePayload(frame: Frame): unknown {
  try {
    return JSON.parse(frame.payload.toString('utf8'));
  } catch (error) {
    throw new FrameError(
      'TCP_BAD_PAYLOAD',
      `a frame of type ${frame.type} must carry JSON: ${(error as Error).message}`,
    );
  }
}

export interface FrameDecoderOptions {
  /** A frame announcing a longer payload is refused before any of it is buffered. @default 10 MiB */
  maxPayloadBytes?: number;
}

/**
 * Turns a byte stream into frames. `push` returns the frames completed by a chunk; it throws a
 * FrameError on the first header that is wrong, after which the decoder must not be used (the
 * stream cannot be resynchronised).
 */
export class FrameDecoder {
  private readonly maxPayloadBytes: number;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private header: { version: number; type: FrameTypeNumber; length: number } | undefined;
  private failed = false;

  constructor(options: FrameDecoderOptions = {}) {
    this.maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  /** Bytes held for a frame not yet complete. */
  get pendingBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): Frame[] {
    if (this.failed) throw new FrameError('TCP_BAD_PAYLOAD', 'the decoder already failed');
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const frames: Frame[] = [];
    for (;;) {
      if (!this.header) {
        if (this.buffered < FRAME_HEADER_BYTES) return frames;
        try {
          this.header = this.readHeader(this.take(FRAME_HEADER_BYTES));
        } catch (error) {
          this.failed = true;
          throw error;
        }
      }
      const { length, type, version } = this.header;
      if (this.buffered < length) return frames;
      frames.push({ type, version, payload: this.take(length) });
      this.header = undefined;
    }
  }

  private readHeader(bytes: Buffer) {
    const magic = bytes.readUInt32BE(0);
    if (magic !== FRAME_MAGIC) {
      throw new FrameError(
        'TCP_BAD_MAGIC',
        `expected the magic 0x4d435042 ("MCPB"), got 0x${magic.toString(16).padStart(8, '0')}`,
      );
    }
    const version = bytes.readUInt16BE(4);
    if (!SUPPORTED_FRAME_VERSIONS.includes(version)) {
      throw new FrameError(
        'TCP_UNSUPPORTED_VERSION',
        `frame version ${version} is not supported (supported: ${SUPPORTED_FRAME_VERSIONS.join(', ')})`,
      );
    }
    const type = bytes.readUInt16BE(6);
    if (!KNOWN_TYPES.has(type))
      throw new FrameError('TCP_UNKNOWN_TYPE', `unknown frame type ${type} (known: 1 to 7)`);
    const length = bytes.readUInt32BE(8);
    if (length > this.maxPayloadBytes) {
      throw new FrameError(
        'TCP_FRAME_TOO_LARGE',
        `a payload of ${length} bytes exceeds the limit of ${this.maxPayloadBytes} bytes`,
      );
    }
    return { version, type: type as FrameTypeNumber, length };
  }

  /** Removes the first `n` buffered bytes: a view when they lie in one chunk, else one copy. */
  private take(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0];
    if (n === 0) return Buffer.alloc(0);
    if (first && first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let copied = 0;
    while (copied < n) {
      const chunk = this.chunks[0]!;
      const wanted = n - copied;
      if (chunk.length <= wanted) {
        chunk.copy(out, copied);
        copied += chunk.length;
        this.chunks.shift();
      } else {
        chunk.copy(out, copied, 0, wanted);
        this.chunks[0] = chunk.subarray(wanted);
        copied += wanted;
      }
    }
    return out;
  }
}

/** What a version negotiation frame proposes. */
export interface VersionOffer {
  min_version: number;
  max_version: number;
  preferred_version?: number;
  supported_versions?: number[];
}

/** The offer this implementation makes as a client. */
export function versionOffer(): VersionOffer {
  const versions = [...SUPPORTED_FRAME_VERSIONS];
  return {
    min_version: Math.min(...versions),
    max_version: Math.max(...versions),
    preferred_version: FRAME_VERSION,
    supported_versions: versions,
  };
}

/**
 * The version a server agrees to for `offer`: the client's preferred one when both speak it,
 * else the highest both speak within its range. Throws TCP_BAD_PAYLOAD for an offer that is not
 * one, TCP_NO_COMMON_VERSION when nothing fits.
 */
export function agreeVersion(offer: unknown): number {
  if (typeof offer !== 'object' || offer === null)
    throw new FrameError('TCP_BAD_PAYLOAD', 'a version negotiation frame must carry an object');
  const o = offer as Record<string, unknown>;
  const int = (v: unknown) => (Number.isInteger(v) && (v as number) >= 0 ? (v as number) : NaN);
  const min = int(o.min_version);
  const max = int(o.max_version);
  if (Number.isNaN(min) || Number.isNaN(max) || min > max) {
    throw new FrameError(
      'TCP_BAD_PAYLOAD',
      'version negotiation needs integer "min_version" <= "max_version"',
    );
  }
  const listed = Array.isArray(o.supported_versions)
    ? o.supported_versions.filter((v): v is number => Number.isInteger(v))
    : undefined;
  const acceptable = (v: number) =>
    v >= min && v <= max && SUPPORTED_FRAME_VERSIONS.includes(v) && (!listed || listed.includes(v));
  const preferred = int(o.preferred_version);
  if (!Number.isNaN(preferred) && acceptable(preferred)) return preferred;
  const common = SUPPORTED_FRAME_VERSIONS.filter(acceptable);
  if (common.length === 0) {
    throw new FrameError(
      'TCP_NO_COMMON_VERSION',
      `no common protocol version: the client offers ${min} to ${max}, this gateway speaks ${SUPPORTED_FRAME_VERSIONS.join(', ')}`,
    );
  }
  return Math.max(...common);
}
