import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { METRIC_CATALOGUE, type MetricKey } from './catalogue.js';

type Catalogue = typeof METRIC_CATALOGUE;
type MetricOf<D> = D extends { type: 'counter' }
  ? Counter<string>
  : D extends { type: 'gauge' }
    ? Gauge<string>
    : Histogram<string>;

export type MetricSet<K extends MetricKey> = { [P in K]: MetricOf<Catalogue[P]> };

export type Metrics<K extends MetricKey> = {
  registry: Registry;
  metric: MetricSet<K>;
};

export type CreateMetricsParameters<K extends MetricKey> = {
  keys: readonly K[];
  /** Node's default process metrics (CPU, memory, event loop lag, GC). */
  defaultMetrics?: boolean;
};

/** One registry per process (or per role when a test runs several in one process). */
export function createMetrics<K extends MetricKey>({
  keys,
  defaultMetrics = true,
}: CreateMetricsParameters<K>): Metrics<K> {
  const registry = new Registry();
  if (defaultMetrics) collectDefaultMetrics({ register: registry });
  const metric = {} as Record<MetricKey, Counter<string> | Gauge<string> | Histogram<string>>;
  for (const key of keys) {
    const def = METRIC_CATALOGUE[key];
    const common = { name: def.name, help: def.help, labelNames: [...def.labelNames], registers: [registry] };
    metric[key] =
      def.type === 'counter'
        ? new Counter(common)
        : def.type === 'gauge'
          ? new Gauge(common)
          : new Histogram({ ...common, buckets: [...def.buckets] });
  }
  return { registry, metric: metric as unknown as MetricSet<K> };
}

/** Whole ATH as a float64 for a money series (see catalogue.ts for why metrics are not in wei). */
export function weiToAthSample(wei: bigint): number {
  const whole = wei / 10n ** 18n;
  const fraction = wei % 10n ** 18n;
  return Number(whole) + Number(fraction) / 1e18;
}
