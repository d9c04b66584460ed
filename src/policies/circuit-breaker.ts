import { channels } from '../core/diagnostics.js';
import { GatewayError } from '../core/errors.js';
import type { Outcome, Policy } from '../core/policy.js';
import { gatewayCodeOf } from '../core/jsonrpc.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  /** Consecutive failures that open the circuit. @default 5 */
  failureThreshold?: number;
  /** Or: this share of failures among the calls of the window opens it (0 to turn off). @default 0.5 */
  failureRatio?: number;
  /** Calls the ratio is computed over, and the fewest before it counts. @default 20 */
  window?: number;
  /** How long the circuit stays open before letting probes through. @default 10_000 */
  openMs?: number;
  /** Successful probes in a row that close it again. @default 2 */
  successThreshold?: number;
  /** Probes let through at once while half-open. @default 1 */
  halfOpenMax?: number;
}

/**
 * A circuit breaker for one backend. Closed: calls pass and failures are counted. Open (after
 * `failureThreshold` failures in a row, or a failure ratio over the last `window` calls): calls
 * fail at once, and the backend is left out of aggregated lists. After `openMs`, half-open: a few
 * probes pass; `successThreshold` successes close it, a failure opens it again.
 */
export class CircuitBreaker {
  private current: BreakerState = 'closed';
  private consecutiveFailures = 0;
  private successes = 0;
  private probes = 0;
  private openedAt = 0;
  private readonly outcomes: boolean[] = [];
  private readonly o: Required<BreakerOptions>;

  constructor(
    readonly backend: string,
    options: BreakerOptions = {},
  ) {
    this.o = {
      failureThreshold: options.failureThreshold ?? 5,
      failureRatio: options.failureRatio ?? 0.5,
      window: options.window ?? 20,
      openMs: options.openMs ?? 10_000,
      successThreshold: options.successThreshold ?? 2,
      halfOpenMax: options.halfOpenMax ?? 1,
    };
  }

  get state(): BreakerState {
    if (this.current === 'open' && Date.now() - this.openedAt >= this.o.openMs)
      this.move('half-open');
    return this.current;
  }

  /** Whether a call may go now; a half-open circuit admits a few probes. Call `record` after. */
  admit(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open') return false;
    if (this.probes >= this.o.halfOpenMax) return false;
    this.probes++;
    return true;
  }

  /** The error for a call the circuit refused. */
  refusal(): GatewayError {
    const wait = Math.max(0, this.o.openMs - (Date.now() - this.openedAt));
    return new GatewayError(
      'GATEWAY_CIRCUIT_OPEN',
      `${this.backend} failed repeatedly; calls resume in about ${Math.ceil(wait / 1000)} s`,
    );
  }

  record(ok: boolean): void {
    if (this.current === 'half-open') {
      this.probes = Math.max(0, this.probes - 1);
      if (!ok) return this.trip();
      if (++this.successes >= this.o.successThreshold) this.move('closed');
      return;
    }
    if (this.current !== 'closed') return;
    this.outcomes.push(ok);
    if (this.outcomes.length > this.o.window) this.outcomes.shift();
    this.consecutiveFailures = ok ? 0 : this.consecutiveFailures + 1;
    if (this.consecutiveFailures >= this.o.failureThreshold) return this.trip();
    if (this.o.failureRatio > 0 && this.outcomes.length >= this.o.window) {
      const failures = this.outcomes.filter((x) => !x).length;
      if (failures / this.outcomes.length >= this.o.failureRatio) this.trip();
    }
  }

  private trip(): void {
    this.openedAt = Date.now();
    this.move('open');
  }

  private move(state: BreakerState): void {
    if (this.current === state) return;
    this.current = state;
    this.consecutiveFailures = 0;
    this.successes = 0;
    this.probes = 0;
    this.outcomes.length = 0;
    if (channels.breakerState.hasSubscribers)
      channels.breakerState.publish({ backend: this.backend, state });
  }
}

/** The breakers of every backend, made on first use. */
export class BreakerRegistry {
  private readonly breakers = new Map<string, CircuitBreaker>();

  constructor(private options: BreakerOptions = {}) {}

  configure(options: BreakerOptions): void {
    this.options = options;
    this.breakers.clear();
  }

  get(backend: string): CircuitBreaker {
    let breaker = this.breakers.get(backend);
    if (!breaker) this.breakers.set(backend, (breaker = new CircuitBreaker(backend, this.options)));
    return breaker;
  }

  states(): Record<string, BreakerState> {
    return Object.fromEntries([...this.breakers].map(([name, b]) => [name, b.state]));
  }
}

/** Failures that say the backend is in trouble; errors of the application do not count. */
const BACKEND_FAILURES = new Set([
  'GATEWAY_BACKEND_UNAVAILABLE',
  'GATEWAY_BACKEND_EXITED',
  'GATEWAY_TIMEOUT',
]);

export function isBackendFailure(reply: Outcome): boolean {
  const code = gatewayCodeOf(reply);
  return code !== undefined && BACKEND_FAILURES.has(code);
}

/**
 * The breaker nearest one backend, in that backend's chain: direct and aggregated sessions go
 * through the same one. The registry is asked on every request, so a reload that reconfigures
 * it applies at once.
 */
export function circuitBreaker(
  registry: BreakerRegistry,
  backend: string,
  enabled: () => boolean = () => true,
): Policy {
  return async (ctx, next) => {
    const { method } = ctx.message;
    if (method === 'initialize' || method === 'ping' || !enabled()) return next();
    const breaker = registry.get(backend);
    if (!breaker.admit()) throw breaker.refusal();
    try {
      const reply = await next();
      breaker.record(!isBackendFailure(reply));
      return reply;
    } catch (error) {
      breaker.record(!(error instanceof GatewayError && BACKEND_FAILURES.has(error.code)));
      throw error;
    }
  };
}
