import { GatewayError } from '../core/errors.js';

/**
 * Caps on stdio backend processes: all backends together (`processes.max`) and each backend
 * (`maxProcesses`). A start beyond a cap fails with GATEWAY_CAPACITY instead of exhausting the
 * machine.
 */
/** One backend process's place under the caps; see {@link ProcessBudget.slot}. */
export interface ProcessSlot {
  /** Takes the place; throws GATEWAY_CAPACITY when a cap is reached. */
  acquire(): void;
  /** The process started: its pid is listed (`/stats`) until the place is released. */
  started(pid: number): void;
  release(): void;
}

/** A running backend process, as `/stats` lists it. */
export interface RunningProcess {
  pid: number;
  backend: string;
  /** When it started, ms since the epoch. */
  startedAt: number;
}

export class ProcessBudget {
  private total = 0;
  private readonly perBackend = new Map<string, number>();
  private readonly live = new Map<number, RunningProcess>();

  /** @param max all backends together; 0 means no limit */
  constructor(public max: number) {}

  get running(): number {
    return this.total;
  }

  runningFor(backend: string): number {
    return this.perBackend.get(backend) ?? 0;
  }

  /** The processes started and not yet ended, oldest first. */
  processes(): RunningProcess[] {
    return [...this.live.values()];
  }

  /** A slot for one process of `backend`, whose own cap is `cap` (0: none). */
  slot(backend: string, cap: number): ProcessSlot {
    let held = false;
    let pid: number | undefined;
    return {
      acquire: () => {
        if (held) return;
        const mine = this.runningFor(backend);
        if (this.max > 0 && this.total >= this.max) {
          throw new GatewayError(
            'GATEWAY_CAPACITY',
            `${this.total} backend processes are running, the most allowed (processes.max)`,
          );
        }
        if (cap > 0 && mine >= cap) {
          throw new GatewayError(
            'GATEWAY_CAPACITY',
            `${backend} runs ${mine} processes, the most allowed (maxProcesses)`,
          );
        }
        held = true;
        this.total++;
        this.perBackend.set(backend, mine + 1);
      },
      started: (started) => {
        if (!held) return;
        pid = started;
        this.live.set(pid, { pid, backend, startedAt: Date.now() });
      },
      release: () => {
        if (!held) return;
        held = false;
        if (pid !== undefined) this.live.delete(pid);
        pid = undefined;
        this.total--;
        this.perBackend.set(backend, this.runningFor(backend) - 1);
      },
    };
  }
}
