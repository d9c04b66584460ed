/** What is kept of a line that was too long: its size and its two ends, to find its id. */
export interface OversizeLine {
  bytes: number;
  head: string;
  tail: string;
}

const EDGE = 256;

/**
 * Splits a byte stream into newline-delimited lines, the framing of MCP's stdio transport.
 * Chunks are kept as they arrive and joined once per line, so a large message costs one copy.
 * A line over the limit is not buffered: only its ends are kept, and it is reported once whole.
 */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private oversize: { bytes: number; head: Buffer; tail: Buffer } | undefined;

  /**
   * @param maxLineBytes a longer line is dropped (reported through `onOversize`) instead of buffered
   */
  constructor(
    private readonly maxLineBytes: number,
    private readonly onLine: (line: string) => void,
    private readonly onOversize: (line: OversizeLine) => void,
    /**
     * Offered each line of `largeLineBytes` or more before it is decoded: true when it took the
     * line as bytes, and `onLine` is not called.
     */
    private readonly takeLarge?: (source: Buffer, start: number, end: number) => boolean,
    private readonly largeLineBytes = Infinity,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(10, start);
      if (newline === -1) break;
      if (this.pending.length === 0 && !this.oversize) this.whole(chunk, start, newline);
      else this.complete(chunk.subarray(start, newline));
      start = newline + 1;
    }
    if (start < chunk.length) this.hold(chunk.subarray(start));
  }

  /** A line that lies whole in one chunk (the common case): decoded in place, with no copy. */
  private whole(chunk: Buffer, start: number, newline: number): void {
    if (newline - start > this.maxLineBytes) {
      this.complete(chunk.subarray(start, newline));
      return;
    }
    // Tolerate CRLF framing from servers written on Windows.
    const end = newline > start && chunk[newline - 1] === 13 ? newline - 1 : newline;
    if (end - start >= this.largeLineBytes && this.takeLarge?.(chunk, start, end)) return;
    if (end > start) this.onLine(chunk.toString('utf8', start, end));
  }

  private hold(part: Buffer): void {
    if (this.oversize) {
      this.grow(part);
      return;
    }
    this.pendingBytes += part.length;
    this.pending.push(part);
    if (this.pendingBytes > this.maxLineBytes) {
      const all = Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
      this.oversize = { bytes: 0, head: Buffer.from(all.subarray(0, EDGE)), tail: Buffer.alloc(0) };
      this.grow(all);
    }
  }

  private grow(part: Buffer): void {
    const o = this.oversize!;
    o.bytes += part.length;
    o.tail =
      part.length >= EDGE
        ? Buffer.from(part.subarray(part.length - EDGE))
        : Buffer.concat([o.tail, part]).subarray(-EDGE);
  }

  private complete(tail: Buffer): void {
    if (this.oversize) {
      this.grow(tail);
      const { bytes, head, tail: end } = this.oversize;
      this.oversize = undefined;
      this.onOversize({ bytes, head: head.toString('utf8'), tail: end.toString('utf8') });
      return;
    }
    let line: Buffer;
    if (this.pending.length === 0) {
      line = tail;
    } else {
      this.pending.push(tail);
      line = Buffer.concat(this.pending, this.pendingBytes + tail.length);
      this.pending = [];
      this.pendingBytes = 0;
    }
    if (line.length > this.maxLineBytes) {
      this.onOversize({
        bytes: line.length,
        head: line.subarray(0, EDGE).toString('utf8'),
        tail: line.subarray(line.length - EDGE).toString('utf8'),
      });
      return;
    }
    // Tolerate CRLF framing from servers written on Windows.
    const end = line.length > 0 && line[line.length - 1] === 13 ? line.length - 1 : line.length;
    if (end === 0) return;
    if (end >= this.largeLineBytes && this.takeLarge?.(line, 0, end)) return;
    this.onLine(line.toString('utf8', 0, end));
  }
}

const ID = String.raw`(-?\d+|"(?:[^"\\]|\\.)*")`;
/** The id as the first member, or second after "jsonrpc", as Python and Go SDKs write it. */
const ID_AT_HEAD = new RegExp(
  String.raw`^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*${ID}`,
);
/** The id as the last member, as the TypeScript SDK writes it. */
const ID_AT_TAIL = new RegExp(String.raw`"id"\s*:\s*${ID}\s*\}\s*$`);

/**
 * The JSON-RPC id of a message too large to parse, when it can be read off one of its ends, so
 * that the request it answers can fail instead of waiting forever.
 */
export function idOfOversizeLine(line: OversizeLine): string | number | undefined {
  const match = ID_AT_HEAD.exec(line.head) ?? ID_AT_TAIL.exec(line.tail);
  if (!match) return undefined;
  try {
    return JSON.parse(match[1]!) as string | number;
  } catch {
    return undefined;
  }
}
