/**
 * The fresh-machine story: the Debian packages README "A fresh Debian machine" names are exactly the ones
 * `.ci/run` installs — so a developer following the README and CI on a new machine get the same programs.
 * Also: each is installed here (the tests about to run need them), as dpkg sees it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const CI_RUN = readFileSync(new URL('../.ci/run', import.meta.url), 'utf8');

function readmePackages(): string[] {
  const block = /<!-- debian-packages: begin -->([\s\S]*?)<!-- debian-packages: end -->/.exec(README)?.[1] ?? '';
  const command = /apt-get install([\s\S]*?)```/.exec(block)?.[1] ?? '';
  return command.split(/[\s\\]+/).filter((word) => word && !word.startsWith('-'));
}

function ciPackages(): string[] {
  const array = /^DEBIAN_PACKAGES=\(\n([\s\S]*?)^\)/m.exec(CI_RUN)?.[1] ?? '';
  return array
    .split('\n')
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter(Boolean);
}

test('README and .ci/run name the same Debian packages', () => {
  const readme = readmePackages();
  const ci = ciPackages();
  assert.ok(readme.length >= 20, readme.join(' '));
  assert.deepEqual([...readme].sort(), [...ci].sort());
  assert.equal(new Set(ci).size, ci.length, 'no package twice');
  for (const name of ['chromium', 'postgresql', 'redis-server', 'coturn', 'supertux', 'prometheus']) {
    assert.ok(ci.includes(name), name);
  }
  assert.match(CI_RUN, /for package in "\$\{DEBIAN_PACKAGES\[@\]\}"/, '.ci/run installs that very list');
  assert.match(CI_RUN, /^npm test$/m);
  assert.match(CI_RUN, /^npm run test:node-versions$/m);
});

test('every one of them is installed on this machine (dpkg)', (t) => {
  const probe = spawnSync('dpkg-query', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    t.skip('not a Debian machine (no dpkg-query)');
    return;
  }
  // dpkg-query's own format placeholder, not a template literal.
  const statusFormat = ['-f=$', '{Status}'].join('');
  const missing = ciPackages().filter((name) => {
    const status = spawnSync('dpkg-query', ['-W', statusFormat, name], { encoding: 'utf8' });
    return !status.stdout.includes('install ok installed');
  });
  assert.deepEqual(missing, [], 'run .ci/run (or the README apt-get line) first');
});
