/**
 * Prometheus file-based service discovery (`file_sd_configs`) for a running network: the dev stack's roles
 * listen on free ports, so `ath-edge all` writes where each role's /metrics is to a JSON file Prometheus
 * re-reads on change (metrics/prometheus.yml points at it). One group per role, `job` = `ath-edge-<role>`.
 */
export type MetricsRole = 'signaling' | 'render-host' | 'checker';

export type FileSdGroup = { targets: string[]; labels: Record<string, string> };

export function prometheusFileSdTargets(
  endpoints: ReadonlyArray<{ role: MetricsRole; metricsUrl: string }>,
): FileSdGroup[] {
  const groups = new Map<string, FileSdGroup>();
  for (const { role, metricsUrl } of endpoints) {
    const url = new URL(metricsUrl);
    const labels = { job: `ath-edge-${role}`, __metrics_path__: url.pathname, __scheme__: url.protocol.slice(0, -1) };
    const key = JSON.stringify(labels);
    const group: FileSdGroup = groups.get(key) ?? { targets: [], labels };
    group.targets.push(url.host);
    groups.set(key, group);
  }
  return [...groups.values()];
}
