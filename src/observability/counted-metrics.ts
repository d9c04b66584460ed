import { Counter, Gauge } from 'prom-client';
import type { CounterConfiguration, GaugeConfiguration, Histogram, Registry } from 'prom-client';

/*
 * Metrics counted in plain numbers and handed to prom-client only when the registry is read:
 * prom-client hashes and validates the labels on every `inc` and `observe`, which on the request
 * path cost more CPU than the session core. See metrics.ts for which metrics are counted so.
 */

export type Labels<L extends string> = Record<L, string>;

/** One series of a counter or gauge, counted here; `labels` keeps the key order prom-client prints. */
export interface Series<L extends string> {
  readonly labels: Labels<L>;
  value: number;
}

/** One series of the duration histogram (status: ok or error), and the requests counted under it, by status code. */
export interface DurationSeries {
  readonly labels: Labels<'method' | 'backend' | 'direction' | 'status'>;
  /** Observations per bucket of DURATION_BUCKETS, not cumulative; longer ones only count in +Inf. */
  readonly buckets: number[];
  sum: number;
  count: number;
  readonly requests: Map<string, Series<'method' | 'backend' | 'status' | 'direction'>>;
}

/** A new series, listed for export in the order prom-client would have met it. */
export function addSeries<L extends string>(list: Array<Series<L>>, labels: Labels<L>): Series<L> {
  const series = { labels, value: 0 };
  list.push(series);
  return series;
}

/** A counter whose series are counted here: prom-client gets them only when the registry is read. */
export function countedCounter<L extends string>(
  config: CounterConfiguration<L>,
): Array<Series<L>> {
  const list: Array<Series<L>> = [];
  new Counter({
    ...config,
    collect() {
      this.reset();
      for (const s of list) this.inc(s.labels, s.value);
    },
  });
  return list;
}

/** A gauge whose series are counted here: prom-client gets them only when the registry is read. */
export function countedGauge<L extends string>(config: GaugeConfiguration<L>): Array<Series<L>> {
  const list: Array<Series<L>> = [];
  new Gauge({
    ...config,
    collect() {
      this.reset();
      for (const s of list) this.set(s.labels, s.value);
    },
  });
  return list;
}

/**
 * A histogram whose buckets are counted here. prom-client can only be handed observations one
 * `observe` at a time, so this object stands in for its Histogram on the registry: `get()` returns
 * what Histogram's `get()` would for the same observations, and the registry prints it the same.
 */
export function countedHistogram(config: {
  name: string;
  help: string;
  buckets: readonly number[];
  registry: Registry;
}): DurationSeries[] {
  const { name, help, buckets } = config;
  const list: DurationSeries[] = [];
  const sample = (value: number, suffix: string, labels: object, exemplar?: null) => ({
    value,
    metricName: `${name}${suffix}`,
    exemplar,
    labels,
  });
  const histogram = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    async get() {
      const values = [];
      for (const s of list) {
        let cumulative = 0;
        for (const [i, le] of buckets.entries()) {
          cumulative += s.buckets[i]!;
          values.push(sample(cumulative, '_bucket', { le, ...s.labels }, null));
        }
        values.push(
          sample(s.count, '_bucket', { le: '+Inf', ...s.labels }, null),
          sample(s.sum, '_sum', { ...s.labels }),
          sample(s.count, '_count', { ...s.labels }),
        );
      }
      return { name, help, type: 'histogram', values, aggregator: 'sum' };
    },
    /** The counts belong to the Metrics object, as those of the counted counters do. */
    reset() {},
  };
  config.registry.registerMetric(histogram as unknown as Histogram);
  return list;
}
