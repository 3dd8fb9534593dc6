/**
 * Install hygiene, checked against the installed tree: every package the code imports is declared (shipped code
 * only from `dependencies`, so `npm ci --omit=dev` runs it; Playwright and the other test tools from
 * `devDependencies`), the noble packages are pinned to the copy viem itself uses, npm finds no install script
 * outside package.json's `allowScripts` (and does flag one), node-av's FFmpeg download is denied and did not
 * happen, and `engines` names every Node line the project tests on (.nvmrc, `npm test`, test:node-versions).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE_ROOTS = ['signaling', 'render-host', 'client', 'metrics', 'edge', 'e2e', 'scripts'];
const SKIP_DIRS = new Set(['node_modules', 'dist', '.cache']);

type PackageJson = {
  version: string;
  engines?: { node?: string };
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  allowScripts?: Record<string, boolean>;
};

const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;
const pkg = readJson<PackageJson>(join(REPO_DIR, 'package.json'));
const dependencies = pkg.dependencies ?? {};
const devDependencies = pkg.devDependencies ?? {};

/**
 * Test and development code: tests, the e2e folder, test helpers (`testing/`), benchmarks, the scripts, the
 * player package's build (a development tool run by `npm run build:player`, it needs `typescript`) and the
 * WebAssembly build (`npm run build:wasm`, it needs `wabt`; the product ships its output).
 */
function isDevelopmentFile(path: string): boolean {
  const parts = path.split(sep);
  const name = parts.at(-1) ?? '';
  return (
    name.endsWith('.test.ts') ||
    /^bench\b/.test(name) ||
    ['e2e', 'scripts'].includes(parts[0] ?? '') ||
    parts.includes('testing') ||
    parts.includes('bench') ||
    path.startsWith(join('client', 'player') + sep) ||
    path.startsWith(join('render-host', 'session', 'nv12', 'build') + sep)
  );
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (SKIP_DIRS.has(name)) continue;
    const path = join(dir, name);
    // x.js beside x.ts is x.ts compiled (npm test runs compiled: scripts/compileTests.mjs); the source counts.
    if (name.endsWith('.js') && existsSync(path.replace(/\.js$/, '.ts'))) continue;
    if (statSync(path).isDirectory()) sourceFiles(path, out);
    else if (/\.(ts|mjs|js)$/.test(name) && !name.endsWith('.d.ts')) out.push(relative(REPO_DIR, path));
  }
  return out;
}

type PackageImport = { file: string; name: string; typeOnly: boolean };

const IMPORT =
  /(?:^|[\s;])(?:import|export)\s+(type\s+)?(?:[^'"`;]*?\sfrom\s+)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)|\brequire(?:\.resolve)?\(\s*['"]([^'"]+)['"]\s*\)/gm;
const BUILTINS = new Set(builtinModules);

/** The packages a file imports (static, dynamic, require), by package name; relative and node: imports left out. */
function packageImports(file: string, text: string): PackageImport[] {
  const found: PackageImport[] = [];
  for (const match of text.matchAll(IMPORT)) {
    const specifier = match[2] ?? match[3] ?? match[4];
    if (!specifier || specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) continue;
    if (BUILTINS.has(specifier)) continue;
    const segments = specifier.split('/');
    const name = specifier.startsWith('@') ? segments.slice(0, 2).join('/') : (segments[0] ?? specifier);
    found.push({ file, name, typeOnly: Boolean(match[1]) });
  }
  return found;
}

/** This file without its extension: it runs from its .ts or compiled beside it (scripts/compileTests.mjs). */
const THIS_STEM = relative(REPO_DIR, fileURLToPath(import.meta.url)).replace(/\.[jt]s$/, '');
const imports = SOURCE_ROOTS.flatMap((root) => sourceFiles(join(REPO_DIR, root)))
  .filter((file) => file.replace(/\.[jt]s$/, '') !== THIS_STEM) // its fixtures below name packages on purpose
  .flatMap((file) => packageImports(file, readFileSync(join(REPO_DIR, file), 'utf8')));

describe('install hygiene', () => {
  test('the import scan sees every form the code uses (it must be able to find an undeclared one)', () => {
    const names = packageImports(
      'x.ts',
      [
        "import { a } from 'left-pad';",
        "import type { B } from '@scope/pkg/sub';",
        "export { c } from 'reexported';",
        "const d = await import('dynamic-one');",
        "const e = require('required-one');",
        "import 'side-effect';",
        "import { f } from './local.js';",
        "import { g } from 'node:fs';",
        "import { h } from 'path';",
      ].join('\n'),
    ).map(({ name, typeOnly }) => `${name}${typeOnly ? ' (type)' : ''}`);
    assert.deepEqual(names, [
      'left-pad',
      '@scope/pkg (type)',
      'reexported',
      'dynamic-one',
      'required-one',
      'side-effect',
    ]);
    assert.ok(imports.length > 100, `the scan found ${imports.length} package imports in the repository`);
  });

  test('every package the code imports is declared; shipped code needs only `dependencies`', () => {
    const undeclared = imports.filter(({ name }) => !(name in dependencies) && !(name in devDependencies));
    assert.deepEqual(
      undeclared.map(({ file, name }) => `${file}: ${name}`),
      [],
      'imported but not in package.json (it only arrives through another package)',
    );
    // `npm ci --omit=dev && npm start` must run: shipped code imports devDependencies at most as types (tsx
    // erases `import type`).
    const devAtRuntime = imports.filter(
      ({ file, name, typeOnly }) => !isDevelopmentFile(file) && !typeOnly && !(name in dependencies),
    );
    assert.deepEqual(
      devAtRuntime.map(({ file, name }) => `${file}: ${name}`),
      [],
      'shipped code importing a devDependency',
    );
  });

  test('Playwright is a devDependency that only tests and benchmarks import', () => {
    assert.ok(!('playwright' in dependencies) && 'playwright' in devDependencies);
    const users = imports.filter(({ name }) => name === 'playwright' || name === 'playwright-core');
    assert.ok(users.length > 0, 'the scan finds the tests that drive Chromium');
    assert.deepEqual(
      users.filter(({ file, typeOnly }) => !typeOnly && !isDevelopmentFile(file)).map(({ file }) => file),
      [],
    );
  });

  test('@noble/curves and @noble/hashes: declared, pinned, and the very copy viem uses', () => {
    const viemDir = join(REPO_DIR, 'node_modules', 'viem');
    const viem = readJson<PackageJson>(join(viemDir, 'package.json'));
    for (const name of ['@noble/curves', '@noble/hashes']) {
      const declared = dependencies[name];
      assert.match(declared ?? '', /^\d+\.\d+\.\d+$/, `${name} is pinned to an exact version`);
      assert.equal(readJson<PackageJson>(join(REPO_DIR, 'node_modules', name, 'package.json')).version, declared);
      assert.equal(viem.dependencies?.[name], declared, `${name}: the version viem asks for`);
      // No copy of its own under viem: viem resolves the same hoisted package the signature path imports.
      assert.equal(existsSync(join(viemDir, 'node_modules', name)), false, `${name}: one copy, shared with viem`);
      assert.ok(
        imports.some((i) => i.name === name && !isDevelopmentFile(i.file)),
        `${name} is imported by shipped code (else drop it)`,
      );
    }
  });

  test('npm finds no install script outside allowScripts, and does flag one', (t) => {
    assert.match(readFileSync(join(REPO_DIR, '.npmrc'), 'utf8'), /^strict-allow-scripts=true$/m);
    const list = (cwd: string) =>
      spawnSync('npm', ['install-scripts', 'ls', '--json'], { cwd, encoding: 'utf8', timeout: 120_000 });
    const ours = list(REPO_DIR);
    if (ours.status !== 0 || !ours.stdout.trim().startsWith('{')) {
      t.skip(`this npm has no \`install-scripts\` command (npm ≥ 11 does): ${ours.stderr.trim().split('\n')[0]}`);
      return;
    }
    const pending = (stdout: string) =>
      (JSON.parse(stdout) as { allowScripts: Array<{ name: string }> }).allowScripts.map(({ name }) => name);
    assert.deepEqual(pending(ours.stdout), [], 'every package with an install script has been reviewed');

    // The same tree with node-av taken off the list: npm must name it (so the empty answer above means something).
    const dir = mkdtempSync(join(tmpdir(), 'ath-install-scripts-'));
    try {
      const allowScripts = Object.fromEntries(
        Object.entries(pkg.allowScripts ?? {}).filter(([name]) => name !== 'node-av'),
      );
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ ...pkg, allowScripts }, null, 2));
      cpSync(join(REPO_DIR, 'package-lock.json'), join(dir, 'package-lock.json'));
      cpSync(join(REPO_DIR, '.npmrc'), join(dir, '.npmrc'));
      symlinkSync(join(REPO_DIR, 'node_modules'), join(dir, 'node_modules'));
      const flagged = list(dir);
      assert.equal(flagged.status, 0, flagged.stderr);
      assert.deepEqual(pending(flagged.stdout), ['node-av']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("node-av's install scripts (its FFmpeg download) are denied and did not run", () => {
    assert.equal(pkg.allowScripts?.['node-av'], false);
    const nodeAv = readJson<{ scripts?: Record<string, string> }>(
      join(REPO_DIR, 'node_modules', 'node-av', 'package.json'),
    );
    assert.match(nodeAv.scripts?.['postinstall'] ?? '', /ffmpeg\/install/, 'the script this denial is about');
    // Where that script would put the FFmpeg build it downloads.
    assert.equal(existsSync(join(REPO_DIR, 'node_modules', 'node-av', 'binary')), false);
  });

  test('engines names every Node line the project runs on: .nvmrc, this Node, test:node-versions', () => {
    const range = pkg.engines?.node ?? '';
    const alternatives = range.split('||').map((part) => part.trim());
    assert.ok(
      alternatives.every((part) => /^\^\d+\.\d+\.\d+$/.test(part)),
      `engines.node is a list of ^x.y.z: ${range}`,
    );
    const satisfies = (version: string) =>
      alternatives.some((part) => {
        const [major, minor, patch] = part.slice(1).split('.').map(Number);
        const [m, n, p] = version.replace(/^v/, '').split('.').map(Number);
        return m === major && ((n ?? 0) > (minor ?? 0) || (n === minor && (p ?? 0) >= (patch ?? 0)));
      });
    const nvmrc = readFileSync(join(REPO_DIR, '.nvmrc'), 'utf8').trim();
    assert.match(nvmrc, /^\d+$/);
    assert.ok(
      alternatives.some((part) => part.startsWith(`^${nvmrc}.`)),
      `.nvmrc ${nvmrc} is in engines`,
    );
    assert.ok(satisfies(process.version), `this Node ${process.version} is in engines ${range}`);
    const script = readFileSync(join(REPO_DIR, 'scripts', 'nodeVersions.mjs'), 'utf8');
    const tested = /DEFAULT_NODE_VERSIONS = \[([^\]]*)\]/.exec(script)?.[1]?.match(/\d+\.\d+\.\d+/g) ?? [];
    assert.ok(tested.length >= 2, 'test:node-versions names its versions');
    for (const version of tested) assert.ok(satisfies(version), `test:node-versions' ${version} is in engines`);
    assert.ok(
      tested.some((version) => version.startsWith(`${nvmrc}.`)),
      `.nvmrc's line ${nvmrc} is tested`,
    );
    assert.equal(satisfies('18.20.0') || satisfies('21.7.0') || satisfies('20.18.0'), false, 'the checker refuses');
  });
});
