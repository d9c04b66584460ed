import { GatewayError } from '../core/errors.js';

/**
 * Caps on stdio backend processes: all backends together (`processes.max`) and each backend
 * (`maxProcesses`). A start beyond a cap fails with GATEWAY_CAPACITY instead of exhausting the
 * machine.
 */
export class ProcessBudget {
  private total = 0;
  private readonly perBackend = new Map<string, number>();

  /** @param max all backends together; 0 means no limit */
  constructor(public max: number) {}

  get running(): number {
    return this.total;
  }

  runningFor(backend: string): number {
    return this.perBackend.get(backend) ?? 0;
  }

  /** A slot for one process of `backend`, whose own cap is `cap` (0: none). */
  slot(backend: string, cap: number): { acquire(): void; release(): void } {
    let held = false;
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
      release: () => {
        if (!held) return;
        held = false;
        this.total--;
        this.perBackend.set(backend, this.runningFor(backend) - 1);
      },
    };
  }
}
