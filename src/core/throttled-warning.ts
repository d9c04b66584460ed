import type { Logger } from './logger.js';

/*
 * One warning a line is right for a client that sends a bad line now and then, and a flood for
 * one that sends nothing else (a fuzz run wrote 50,796 lines, 10.5 MB, for one connection). So
 * the first few are logged as they come, then at most one line per interval says how many more
 * there were. No timer: the summary is written with the next warning after the interval, or by
 * `flush` when the connection ends.
 */

export interface ThrottledWarningOptions {
  /** Warnings logged one by one before summaries begin. @default 5 */
  burst?: number;
  /** Shortest time between two summary lines. @default 10_000 */
  intervalMs?: number;
  /** The clock, for tests. @default Date.now */
  now?: () => number;
}

export class ThrottledWarning {
  private seen = 0;
  private suppressed = 0;
  private lastLine = 0;
  private readonly burst: number;
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(
    private readonly log: Logger,
    private readonly message: string,
    options: ThrottledWarningOptions = {},
  ) {
    this.burst = options.burst ?? 5;
    this.intervalMs = options.intervalMs ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  warn(fields: Record<string, unknown>): void {
    const now = this.now();
    if (++this.seen <= this.burst) {
      this.lastLine = now;
      this.log.warn(fields, this.message);
      return;
    }
    this.suppressed++;
    if (now - this.lastLine >= this.intervalMs) this.summarize(fields, now);
  }

  /** Writes the count of warnings not yet logged, if any (when the connection ends). */
  flush(): void {
    if (this.suppressed > 0) this.summarize({}, this.now());
  }

  private summarize(fields: Record<string, unknown>, now: number): void {
    this.log.warn(
      { ...fields, suppressed: this.suppressed, total: this.seen },
      `${this.message} (${this.suppressed} more not logged one by one)`,
    );
    this.suppressed = 0;
    this.lastLine = now;
  }
}
