import { rename, writeFile } from 'node:fs/promises';

/** What `connect --status-file` holds, rewritten whenever it changes. */
export interface ConnectorStatus {
  /** idle (no client message yet), connecting, connected, reconnecting, closed. */
  state: string;
  /** When the state last changed (ISO 8601). */
  since: string;
  /** Sessions restored or links re-established after a loss. */
  reconnects: number;
  /** Requests waiting for the link. */
  queueDepth: number;
  /** Requests sent and not yet answered. */
  inFlight: number;
  /** The remote, without credentials or query. */
  remote: string;
  /** The transport in use (auto's verdict once known). */
  transport: string;
  /** Why the link was last lost. */
  lastError?: string;
  pid: number;
}

/**
 * Writes the status as JSON, atomically (a temporary file renamed over the old one), at most one
 * write at a time; changes made during a write are written once it ends.
 */
export class StatusFile {
  private writing: Promise<void> | undefined;
  private next: ConnectorStatus | undefined;

  constructor(private readonly path: string) {}

  update(status: ConnectorStatus): void {
    this.next = status;
    this.writing ??= this.drain();
  }

  /** Resolves once everything given so far is on disk. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async drain(): Promise<void> {
    while (this.next) {
      const status = this.next;
      this.next = undefined;
      const temporary = `${this.path}.${process.pid}.tmp`;
      try {
        await writeFile(temporary, `${JSON.stringify(status, null, 2)}\n`, { mode: 0o600 });
        await rename(temporary, this.path);
      } catch {
        // A status file that cannot be written must not take the link down; a later change
        // tries again.
      }
    }
    this.writing = undefined;
  }
}

/** The remote as a status file or log may show it: no user, password or query. */
export function displayUrl(text: string): string {
  try {
    const url = new URL(text);
    url.username = '';
    url.password = '';
    url.search = '';
    url.hash = '';
    return url.toString();
  } catch {
    return '(invalid URL)';
  }
}
