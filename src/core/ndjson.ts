/**
 * Splits a byte stream into newline-delimited lines, the framing of MCP's stdio transport.
 * Chunks are kept as they arrive and joined once per line, so a large message costs one copy.
 */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private discarding = false;

  /**
   * @param maxLineBytes a longer line is dropped (reported through `onOversize`) instead of buffered
   */
  constructor(
    private readonly maxLineBytes: number,
    private readonly onLine: (line: string) => void,
    private readonly onOversize: (bytes: number) => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(10, start);
      if (newline === -1) break;
      this.complete(chunk.subarray(start, newline));
      start = newline + 1;
    }
    if (start < chunk.length) this.hold(chunk.subarray(start));
  }

  private hold(part: Buffer): void {
    if (this.discarding) return;
    this.pendingBytes += part.length;
    if (this.pendingBytes > this.maxLineBytes) {
      this.onOversize(this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
      this.discarding = true;
      return;
    }
    this.pending.push(part);
  }

  private complete(tail: Buffer): void {
    if (this.discarding) {
      this.discarding = false;
      return;
    }
    let line: Buffer;
    if (this.pending.length === 0) {
      line = tail;
    } else {
      if (this.pendingBytes + tail.length > this.maxLineBytes) {
        this.onOversize(this.pendingBytes + tail.length);
        this.pending = [];
        this.pendingBytes = 0;
        return;
      }
      this.pending.push(tail);
      line = Buffer.concat(this.pending, this.pendingBytes + tail.length);
      this.pending = [];
      this.pendingBytes = 0;
    }
    if (line.length > this.maxLineBytes) {
      this.onOversize(line.length);
      return;
    }
    // Tolerate CRLF framing from servers written on Windows.
    const end = line.length > 0 && line[line.length - 1] === 13 ? line.length - 1 : line.length;
    if (end === 0) return;
    this.onLine(line.toString('utf8', 0, end));
  }
}
