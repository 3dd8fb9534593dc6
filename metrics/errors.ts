/** Error codes of metrics/. */
export const MetricsErrorCode = {
  /** A Prometheus text exposition does not parse (the message names the line). */
  parse: 'ATH_ERR_METRICS_PARSE',
} as const;

export type MetricsErrorCode = (typeof MetricsErrorCode)[keyof typeof MetricsErrorCode];

declare module '../signaling/protocol/AthError.js' {
  interface AthErrorCodes {
    metrics: MetricsErrorCode;
  }
}
