import { describe, expect, it } from 'vitest';
import {
  FRAME_HEADER_BYTES,
  FrameDecoder,
  FrameError,
  FrameType,
  agreeVersion,
  encodeFrame,
  encodeHeader,
  encodeJsonFrame,
  parsePayload,
  versionOffer,
} from './frames.js';
import type { FrameTypeNumber } from './frames.js';

const ALL_TYPES = Object.values(FrameType) as FrameTypeNumber[];

function decodeAll(decoder: FrameDecoder, chunks: Buffer[]) {
  return chunks.flatMap((chunk) => decoder.push(chunk));
}

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof FrameError) return error.code;
    throw error;
  }
  return undefined;
}

describe('frame codec', () => {
  it('writes the 12-byte big-endian header: magic "MCPB", version, type, length', () => {
    const frame = encodeFrame(FrameType.request, '{}');
    expect(frame.subarray(0, FRAME_HEADER_BYTES).toString('hex')).toBe(
      '4d435042000100010000' + '0002',
    );
    expect(frame.subarray(FRAME_HEADER_BYTES).toString()).toBe('{}');
  });

  it.each(ALL_TYPES)('round-trips a frame of type %i', (type) => {
    const payload = type === FrameType.error ? 'TCP_BAD_MAGIC: text' : JSON.stringify({ type });
    const [frame, ...rest] = new FrameDecoder().push(encodeFrame(type, payload));
    expect(rest).toEqual([]);
    expect(frame).toMatchObject({ type, version: 1 });
    expect(frame!.payload.toString()).toBe(payload);
  });

  it('finds frames split across chunks at every byte boundary', () => {
    const bytes = Buffer.concat([
      encodeJsonFrame(FrameType.request, { jsonrpc: '2.0', id: 1, method: 'ping' }),
      encodeFrame(FrameType.health),
      encodeJsonFrame(FrameType.response, { jsonrpc: '2.0', id: 1, result: {} }),
    ]);
    for (let cut = 1; cut < bytes.length; cut++) {
      const frames = decodeAll(new FrameDecoder(), [bytes.subarray(0, cut), bytes.subarray(cut)]);
      expect(frames.map((f) => f.type)).toEqual([1, 4, 2]);
    }
    // One byte at a time, too.
    const decoder = new FrameDecoder();
    const frames = decodeAll(
      decoder,
      [...bytes].map((b) => Buffer.from([b])),
    );
    expect(frames.map((f) => f.payload.length)).toEqual([40, 0, 36]);
    expect(decoder.pendingBytes).toBe(0);
  });

  it('finds several frames joined in one chunk, and keeps a partial one for later', () => {
    const one = encodeJsonFrame(FrameType.control, { type: 'auth', auth_token: 't' });
    const joined = Buffer.concat([one, one, one.subarray(0, 5)]);
    const decoder = new FrameDecoder();
    expect(decoder.push(joined)).toHaveLength(2);
    expect(decoder.pendingBytes).toBe(5);
    expect(decoder.push(one.subarray(5))).toHaveLength(1);
  });

  it('assembles a 10 MiB payload from 64 KiB chunks intact', () => {
    const payload = Buffer.alloc(10 * 1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = i % 251;
    const bytes = encodeFrame(FrameType.response, payload);
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += 65536) chunks.push(bytes.subarray(at, at + 65536));
    const [frame] = decodeAll(new FrameDecoder(), chunks);
    expect(frame!.payload.equals(payload)).toBe(true);
  });

  it('refuses a bad magic, naming what it saw', () => {
    const bytes = encodeFrame(FrameType.request, '{}');
    bytes.writeUInt32BE(0x47455420, 0); // "GET " (an HTTP client on the wrong port)
    expect(() => new FrameDecoder().push(bytes)).toThrow(/TCP_BAD_MAGIC: .*0x47455420/);
  });

  it('refuses an unknown version and an unknown type', () => {
    const version = encodeFrame(FrameType.request, '{}');
    version.writeUInt16BE(2, 4);
    expect(codeOf(() => new FrameDecoder().push(version))).toBe('TCP_UNSUPPORTED_VERSION');
    for (const type of [0, 8, 0xffff]) {
      const bytes = encodeFrame(FrameType.request, '{}');
      bytes.writeUInt16BE(type, 6);
      expect(codeOf(() => new FrameDecoder().push(bytes))).toBe('TCP_UNKNOWN_TYPE');
    }
  });

  it('refuses an oversized frame from its header alone, before buffering the payload', () => {
    const decoder = new FrameDecoder({ maxPayloadBytes: 1024 });
    expect(codeOf(() => decoder.push(encodeHeader(FrameType.request, 1025)))).toBe(
      'TCP_FRAME_TOO_LARGE',
    );
    expect(codeOf(() => new FrameDecoder().push(encodeHeader(FrameType.request, 0xffffffff)))).toBe(
      'TCP_FRAME_TOO_LARGE',
    );
    // A decoder that failed stays failed: the stream cannot be resynchronised.
    expect(codeOf(() => decoder.push(Buffer.alloc(1)))).toBeDefined();
  });

  it('refuses a payload that is not JSON where JSON is due', () => {
    const [frame] = new FrameDecoder().push(encodeFrame(FrameType.request, '{"jsonrpc":'));
    expect(codeOf(() => parsePayload(frame!))).toBe('TCP_BAD_PAYLOAD');
  });

  it('never throws anything but a FrameError on random bytes', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 256;
    for (let round = 0; round < 500; round++) {
      const bytes = Buffer.from(Array.from({ length: 1 + (round % 40) }, () => random() | 0));
      // Half of them with a valid magic, so that the later checks are reached too.
      if (round % 2 === 0 && bytes.length >= 4) bytes.writeUInt32BE(0x4d435042, 0);
      try {
        for (const frame of new FrameDecoder({ maxPayloadBytes: 64 }).push(bytes)) {
          if (frame.type !== FrameType.error) parsePayload(frame);
        }
      } catch (error) {
        expect(error).toBeInstanceOf(FrameError);
      }
    }
  });
});

describe('version negotiation', () => {
  it('agrees to the preferred version when both speak it', () => {
    expect(agreeVersion(versionOffer())).toBe(1);
    expect(agreeVersion({ min_version: 1, max_version: 3, preferred_version: 3 })).toBe(1);
  });

  it('refuses an offer with no common version, and one that is not an offer', () => {
    expect(codeOf(() => agreeVersion({ min_version: 2, max_version: 4 }))).toBe(
      'TCP_NO_COMMON_VERSION',
    );
    expect(
      codeOf(() => agreeVersion({ min_version: 1, max_version: 2, supported_versions: [2] })),
    ).toBe('TCP_NO_COMMON_VERSION');
    expect(codeOf(() => agreeVersion({ max_version: 1 }))).toBe('TCP_BAD_PAYLOAD');
    expect(codeOf(() => agreeVersion('1'))).toBe('TCP_BAD_PAYLOAD');
  });
});
