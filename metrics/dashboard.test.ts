import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { createMetrics, METRIC_CATALOGUE, prometheusFileSdTargets } from './index.js';
import { parsePrometheusText } from './parsePrometheusText.js';

type Panel = {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: Array<{ expr: string; datasource: { uid: string } }>;
};
type Dashboard = {
  uid: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query: unknown }> };
};

const dashboard = JSON.parse(readFileSync(new URL('./dashboards/ath-edge.json', import.meta.url), 'utf8')) as Dashboard;
/** Grafana's variable syntax, not a template literal. */
const DS_UID = ['$', '{DS_PROMETHEUS}'].join('');
const exprs = dashboard.panels.flatMap((panel) => panel.targets?.map((target) => target.expr) ?? []);

describe('Grafana dashboard (metrics/dashboards/ath-edge.json)', () => {
  test('loads as it is: a Prometheus datasource variable every query uses, unique panel ids', () => {
    const ds = dashboard.templating.list.find((variable) => variable.name === 'DS_PROMETHEUS');
    assert.equal(ds?.type, 'datasource');
    assert.equal(ds?.query, 'prometheus');
    const ids = dashboard.panels.map((panel) => panel.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
      assert.deepEqual(panel.datasource, { type: 'prometheus', uid: DS_UID }, panel.title);
      assert.ok(panel.targets?.length, `${panel.title} has queries`);
      for (const target of panel.targets ?? []) assert.equal(target.datasource.uid, DS_UID);
    }
  });

  test('every catalogue metric has a panel, and every queried metric exists', async () => {
    // Node's defaults under their standard names, as a real registry exposes them.
    const defaults = new Set(
      parsePrometheusText(await createMetrics({ keys: [] }).registry.metrics()).families.flatMap((family) =>
        family.type === 'histogram'
          ? [`${family.name}_bucket`, `${family.name}_sum`, `${family.name}_count`]
          : [family.name],
      ),
    );
    for (const def of Object.values(METRIC_CATALOGUE)) {
      assert.ok(
        exprs.some((expr) => new RegExp(`\\b${def.name}(_bucket)?\\b`).test(expr)),
        `${def.name} is on no panel`,
      );
    }
    const known = new Set<string>(
      Object.values(METRIC_CATALOGUE).flatMap((def) =>
        def.type === 'histogram' ? [`${def.name}_bucket`, `${def.name}_sum`, `${def.name}_count`] : [def.name],
      ),
    );
    for (const expr of exprs) {
      for (const name of expr.match(/\bath_edge_[a-z0-9_]+/g) ?? []) {
        assert.ok(known.has(name), `${name} (in ${expr}) is not exposed`);
      }
      for (const name of expr.match(/\b(process|nodejs)_[a-z0-9_]+/g) ?? []) {
        assert.ok(defaults.has(name), `${name} (in ${expr}) is not one of Node's default metrics`);
      }
      // Balanced brackets: a typo in a query would show as an error panel, not as a failed import.
      for (const [open, close] of [
        ['(', ')'],
        ['{', '}'],
        ['[', ']'],
      ] as const) {
        assert.equal(expr.split(open).length, expr.split(close).length, expr);
      }
    }
  });
});

describe('prometheusFileSdTargets', () => {
  test('one group per role, host:port targets, path and scheme from the URL', () => {
    const groups = prometheusFileSdTargets([
      { role: 'signaling', metricsUrl: 'http://127.0.0.1:8080/metrics' },
      { role: 'render-host', metricsUrl: 'http://127.0.0.1:40001/metrics' },
      { role: 'render-host', metricsUrl: 'http://127.0.0.1:40002/metrics' },
    ]);
    assert.deepEqual(groups, [
      {
        targets: ['127.0.0.1:8080'],
        labels: { job: 'ath-edge-signaling', __metrics_path__: '/metrics', __scheme__: 'http' },
      },
      {
        targets: ['127.0.0.1:40001', '127.0.0.1:40002'],
        labels: { job: 'ath-edge-render-host', __metrics_path__: '/metrics', __scheme__: 'http' },
      },
    ]);
  });
});
