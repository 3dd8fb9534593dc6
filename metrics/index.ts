export { METRIC_CATALOGUE, type MetricDefinition, type MetricKey } from './catalogue.js';
export {
  type CreateMetricsParameters,
  createMetrics,
  type MetricSet,
  type Metrics,
  weiToAthSample,
} from './createMetrics.js';
export {
  METRICS_PARSE_ERROR,
  type MetricFamily,
  type MetricType,
  type PrometheusExposition,
  parsePrometheusText,
  type Sample,
  sampleValue,
  seriesKey,
} from './parsePrometheusText.js';
export { type FileSdGroup, type MetricsRole, prometheusFileSdTargets } from './prometheusTargets.js';
export {
  CHECKER_METRICS,
  type CheckerMetricKey,
  RENDER_HOST_METRICS,
  type RenderHostMetricKey,
  SIGNALING_METRICS,
  type SignalingMetricKey,
} from './roles.js';
