export interface BackoffOptions {
  /** Ceiling of the first delay. @default 500 */
  initialMs?: number;
  /** Largest ceiling, however many attempts failed. @default 30_000 */
  maxMs?: number;
}

/**
 * Exponential backoff with full jitter (the AWS architecture blog's "full jitter"): attempt `n`
 * (0-based) waits a uniformly random time in [0, min(max, initial × 2ⁿ)], so that many
 * connectors cut off by one outage do not all come back in the same instant.
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const { initialMs = 500, maxMs = 30_000 } = options;
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
