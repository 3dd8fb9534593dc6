import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  CHECKER_METRICS,
  createMetrics,
  METRIC_CATALOGUE,
  type MetricKey,
  RENDER_HOST_METRICS,
  SIGNALING_METRICS,
  weiToAthSample,
} from './index.js';
import { parsePrometheusText, sampleValue } from './parsePrometheusText.js';

const ROLES = { signaling: SIGNALING_METRICS, 'render-host': RENDER_HOST_METRICS, checker: CHECKER_METRICS } as const;

/** Debian's `prometheus` package installs it; the promtool tests skip where it is absent. */
const PROMTOOL = process.env.PROMTOOL ?? '/usr/bin/promtool';
/**
 * prom-client's default gauges that end in `_total` (named so for years; renaming them would break every
 * dashboard that uses them). promtool flags them; nothing else may be flagged.
 */
const PROM_CLIENT_DEFAULT_NAMES =
  /^nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/;

/** `promtool check metrics` on an exposition: the problems it names, one per line (none: clean). */
function promtoolCheck(exposition: string): string[] {
  const result = spawnSync(PROMTOOL, ['check', 'metrics'], { input: exposition, encoding: 'utf8', timeout: 30_000 });
  if (result.error) throw result.error;
  const lines = `${result.stdout}\n${result.stderr}`
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  assert.ok(result.status === 0 || lines.length > 0, `promtool exited ${result.status} saying nothing`);
  return lines;
}

/** Label names that would carry an unbounded id: refused by the catalogue's own rule. */
const UNBOUNDED_LABEL = /id$|session|player|address|key|wallet|host$|container$/i;

/** Gives every metric of a role one observation with a plausible label value, as the running code would. */
function exercise(keys: readonly MetricKey[]) {
  const metrics = createMetrics({ keys });
  for (const key of keys) {
    const def = METRIC_CATALOGUE[key];
    const labels = Object.fromEntries(def.labelNames.map((name) => [name, `v-${name}`]));
    const metric = metrics.metric[key] as unknown as {
      inc?: (labels: Record<string, string>, value: number) => void;
      set?: (labels: Record<string, string>, value: number) => void;
      observe?: (labels: Record<string, string>, value: number) => void;
    };
    if (def.type === 'counter') metric.inc?.(labels, 2);
    else if (def.type === 'gauge') metric.set?.(labels, 0.5);
    else {
      metric.observe?.(labels, 0.003);
      metric.observe?.(labels, 1e9);
    }
  }
  return metrics;
}

describe('metrics catalogue and role expositions', () => {
  test('every catalogue entry follows the naming rules and is exposed by some role', () => {
    const exposed = new Set<string>(Object.values(ROLES).flat());
    for (const [key, def] of Object.entries(METRIC_CATALOGUE)) {
      assert.ok(exposed.has(key), `${key} is in no role's list`);
      assert.match(def.name, /^ath_edge_[a-z0-9_]+$/, key);
      if (def.type === 'counter') assert.match(def.name, /_total$/, `${def.name}: counters end in _total`);
      else assert.doesNotMatch(def.name, /_total$/, `${def.name}: only counters end in _total`);
      assert.doesNotMatch(def.name, /_(ms|milliseconds|wei|kb|mb)(_|$)/, `${def.name}: base units only`);
      for (const label of def.labelNames) {
        assert.doesNotMatch(label, UNBOUNDED_LABEL, `${def.name}{${label}} looks unbounded`);
        assert.notEqual(label, 'le');
        assert.notEqual(label, 'quantile');
      }
      assert.ok(def.help.length > 10, `${def.name} has a help text`);
    }
  });

  for (const [role, keys] of Object.entries(ROLES)) {
    test(`${role}: the exposition parses strictly, every catalogue metric with its type and help`, async () => {
      const { registry } = exercise(keys);
      const parsed = parsePrometheusText(await registry.metrics());
      for (const key of keys) {
        const def = METRIC_CATALOGUE[key];
        const family = parsed.byName.get(def.name);
        assert.ok(family, `${def.name} is exposed`);
        assert.equal(family.type, def.type, def.name);
        assert.equal(family.help, def.help, def.name);
        assert.ok(family.samples.length > 0, `${def.name} has samples`);
        if (def.type === 'histogram') assert.equal(sampleValue(parsed, `${def.name}_count`), 2, def.name);
      }
      // Node's default metrics under their standard names (what the standard Node.js dashboards query).
      for (const name of [
        'process_cpu_seconds_total',
        'process_resident_memory_bytes',
        'nodejs_eventloop_lag_seconds',
      ]) {
        assert.ok(parsed.byName.get(name), `${name} (standard name, no prefix)`);
      }
      // Only catalogue metrics and the default ones: nothing else slips in under another name.
      const catalogueNames = new Set<string>(keys.map((key) => METRIC_CATALOGUE[key].name));
      for (const family of parsed.families) {
        assert.ok(
          catalogueNames.has(family.name) || /^(process|nodejs)_/.test(family.name),
          `${family.name} is not in the catalogue`,
        );
        assert.doesNotMatch(family.name, /^ath_edge_(process|nodejs)_/, 'defaults keep their standard names');
      }
    });

    test(`${role}: promtool check metrics finds nothing but prom-client's own default names`, async (t) => {
      if (!existsSync(PROMTOOL)) {
        t.skip(`${PROMTOOL} not installed (Debian: apt-get install prometheus)`);
        return;
      }
      const { registry } = exercise(keys);
      const problems = promtoolCheck(await registry.metrics());
      assert.deepEqual(
        problems.filter((line) => !PROM_CLIENT_DEFAULT_NAMES.test(line)),
        [],
        `promtool on ${role}'s /metrics`,
      );
    });
  }

  test('promtool really reads the exposition: a bad name is flagged', (t) => {
    if (!existsSync(PROMTOOL)) {
      t.skip(`${PROMTOOL} not installed`);
      return;
    }
    const problems = promtoolCheck(
      '# HELP ath_edge_bad_ms A gauge in ms.\n# TYPE ath_edge_bad_ms gauge\nath_edge_bad_ms 1\n',
    );
    assert.ok(
      problems.some((line) => /ath_edge_bad_ms/.test(line)),
      problems.join('\n'),
    );
  });

  test('label values with quotes, backslashes and line feeds survive the round trip', async () => {
    const { registry, metric } = createMetrics({ keys: ['sessionsEnded'], defaultMetrics: false });
    metric.sessionsEnded.inc({ reason: 'a "quoted"\\ odd\nreason' });
    const parsed = parsePrometheusText(await registry.metrics());
    assert.equal(sampleValue(parsed, 'ath_edge_sessions_ended_total', { reason: 'a "quoted"\\ odd\nreason' }), 1);
  });

  test('wei map onto a float64 sample in whole ATH', () => {
    const ATH = 10n ** 18n;
    assert.equal(weiToAthSample(0n), 0);
    assert.equal(weiToAthSample(ATH), 1);
    assert.equal(weiToAthSample(1n), 1e-18);
    assert.equal(weiToAthSample(ATH / 2n), 0.5);
    // Beyond 2^53 wei a plain Number(wei) / 1e18 loses units; whole and fraction apart keep ~15 digits.
    assert.equal(weiToAthSample(123_456_789n * ATH + 5n * 10n ** 17n), 123_456_789.5);
    assert.equal(weiToAthSample(10n ** 9n * ATH), 1e9);
    const sample = weiToAthSample(1_234_567_890_123_456_789n);
    assert.ok(Math.abs(sample - 1.2345678901234567) < 1e-15, String(sample));
  });
});
