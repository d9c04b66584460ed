/*
 * The framed TCP protocol's frames as the harness writes and reads them (docs/tcp-protocol.md):
 * a 12-byte big-endian header (magic "MCPB", version, type, payload length), then the payload.
 * Written here, not imported from the gateway, so that the harness checks the protocol as
 * documented rather than as implemented; every header field can be set wrong on purpose.
 */

export const MAGIC = 0x4d435042;
export const TYPE = {
  request: 1,
  response: 2,
  control: 3,
  health: 4,
  error: 5,
  version: 6,
  versionAck: 7,
};
export const HEADER = 12;

/** One frame: a header (`version`, `type`, `length` overridable) and its payload. */
export function frame(type, payload = '', { magic = MAGIC, version = 1, length } = {}) {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
  const head = Buffer.alloc(HEADER);
  head.writeUInt32BE(magic >>> 0, 0);
  head.writeUInt16BE(version, 4);
  head.writeUInt16BE(type, 6);
  head.writeUInt32BE((length ?? body.length) >>> 0, 8);
  return Buffer.concat([head, body]);
}

/** Frames out of a byte stream, as they complete; `onFrame({ type, version, payload })`. */
export function frameReader(onFrame, onGarbage) {
  let buf = Buffer.alloc(0);
  let failed = false;
  return (chunk) => {
    if (failed) return;
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    while (buf.length >= HEADER) {
      if (buf.readUInt32BE(0) !== MAGIC) {
        failed = true;
        return onGarbage(buf);
      }
      const length = buf.readUInt32BE(8);
      if (buf.length < HEADER + length) return;
      onFrame({
        version: buf.readUInt16BE(4),
        type: buf.readUInt16BE(6),
        payload: buf.subarray(HEADER, HEADER + length),
      });
      buf = buf.subarray(HEADER + length);
    }
  };
}
