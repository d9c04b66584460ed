/*
 * Closed-loop load: a fixed number of workers, each sending its next call as soon as the last
 * one is answered. Bounded by a call count or by a time window, never open-ended.
 */

/** Counts failures by kind and keeps the first message of each. */
export class Errors {
  count = 0;
  kinds = new Map();

  add(error) {
    this.count++;
    const kind = error?.kind ?? 'other';
    const seen = this.kinds.get(kind);
    if (seen) seen.count++;
    else this.kinds.set(kind, { count: 1, first: String(error?.message ?? error).slice(0, 160) });
  }

  /** Adds `other`'s failures, their kinds prefixed. */
  merge(other, prefix = '') {
    this.count += other.count;
    for (const [kind, v] of other.kinds) {
      const seen = this.kinds.get(prefix + kind);
      if (seen) seen.count += v.count;
      else this.kinds.set(prefix + kind, { ...v });
    }
  }

  /** e.g. `http×3 (HTTP 404: …)` */
  describe() {
    return [...this.kinds]
      .map(([kind, { count, first }]) => `${kind}×${count} (${first})`)
      .join('; ');
  }
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)];
}

/**
 * `total` calls spread over `workers` (each `{ session }`), `call(session, n)` for each.
 * Resolves with the sorted latencies (ms) of the calls that succeeded, and the errors.
 */
export async function runCount(workers, total, call) {
  const latencies = new Float64Array(total);
  let recorded = 0;
  let issued = 0;
  const errors = new Errors();
  const started = performance.now();
  await Promise.all(
    workers.map(async ({ session }) => {
      while (issued < total) {
        const n = issued++;
        const t0 = performance.now();
        try {
          await call(session, n);
          latencies[recorded++] = performance.now() - t0;
        } catch (error) {
          errors.add(error);
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const sorted = latencies.subarray(0, recorded).sort();
  return { sorted, ok: recorded, errors, elapsed };
}

/**
 * Calls for `ms` milliseconds from every worker. Counts the calls answered within the window;
 * calls still in flight when it closes are awaited (so nothing is left behind) but not counted.
 */
export async function runDuration(workers, ms, call) {
  const errors = new Errors();
  let ok = 0;
  let n = 0;
  const started = performance.now();
  const end = started + ms;
  await Promise.all(
    workers.map(async ({ session }) => {
      while (performance.now() < end) {
        try {
          await call(session, n++);
          if (performance.now() <= end) ok++;
        } catch (error) {
          errors.add(error);
        }
      }
    }),
  );
  const elapsed = Math.min(performance.now(), end) - started;
  return { ok, rps: ok / (elapsed / 1000), errors, elapsed: elapsed / 1000 };
}

/** Runs `fn` for each item with at most `limit` at once; resolves with the failures. */
export async function withLimit(items, limit, fn) {
  const errors = new Errors();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const item = items[next++];
        try {
          await fn(item);
        } catch (error) {
          errors.add(error);
        }
      }
    }),
  );
  return errors;
}
