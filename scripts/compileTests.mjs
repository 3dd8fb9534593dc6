// Test processes start from plain JavaScript, not through tsx. On Node 20, tsx's loader hooks run on a separate
// thread and every module a process loads (viem alone is hundreds) makes a round trip to it: importing
// edge/index.ts costs ≈ 4 s of CPU that way against ≈ 1.5 s from JavaScript, and `npm test` starts ≈ 140 test
// processes on 2 cores. So scripts/test.mjs first transpiles the code once with esbuild (the compiler tsx itself
// uses, with the same tsconfig, so the code that runs is the same) into a mirror of the repository:
//
//   <mirror>/edge/cli.js      compiled edge/cli.ts (inline source map: stack traces name the .ts lines)
//   <mirror>/edge/cli.ts      a symlink to edge/cli.ts
//   <mirror>/<anything else>  a symlink to the original (migrations, fixtures, …); the top's files are copies
//
// Imports (`./cli.js`) find the compiled file; paths built from `import.meta.url` find the originals through the
// symlinks, so a test that spawns `node --import tsx <dir>/cli.ts` (benches, test helpers) starts the real source
// under tsx as before (role processes and the CLI start compiled: edge/stack/nodeEntry.ts).
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import { build } from 'esbuild';

/** Folders holding code and tests; everything else at the top is linked as it is. */
export const CODE_DIRS = ['signaling', 'render-host', 'client', 'metrics', 'edge', 'e2e'];
/** Never mirrored (nor searched for tests): dependencies, build outputs and caches. */
export const SKIP = new Set(['node_modules', '.git', '.cache', 'dist']);

/**
 * Builds the mirror of `root` in `mirror` (replacing what was there) and returns how many files it compiled.
 * ≈ 2 s for the whole repository.
 */
export async function compileTests(root, mirror) {
  rmSync(mirror, { recursive: true, force: true });
  mkdirSync(mirror, { recursive: true });
  for (const name of readdirSync(root)) {
    // node_modules too: Node would find it by walking up, tools given the repository's root look for it there.
    if ((SKIP.has(name) && name !== 'node_modules') || CODE_DIRS.includes(name)) continue;
    // The top's files are copied (a few KB): some tools refuse a symlink (dockerfilelint: "Invalid input").
    if (statSync(join(root, name)).isFile()) copyFileSync(join(root, name), join(mirror, name));
    else symlinkSync(join(root, name), join(mirror, name));
  }
  const sources = [];
  const walk = (dir) => {
    mkdirSync(join(mirror, relative(root, dir)), { recursive: true });
    for (const name of readdirSync(dir)) {
      if (SKIP.has(name)) continue;
      const path = join(dir, name);
      if (statSync(path).isDirectory()) {
        walk(path);
        continue;
      }
      symlinkSync(path, join(mirror, relative(root, path)));
      if (name.endsWith('.ts') && !name.endsWith('.d.ts')) sources.push(path);
    }
  };
  for (const dir of CODE_DIRS) walk(join(root, dir));
  // Caches the code keeps beside the repository (compiled contracts: solc takes ≈ 20 s without them).
  mkdirSync(join(root, '.cache', 'contracts'), { recursive: true });
  mkdirSync(join(mirror, '.cache'));
  symlinkSync(join(root, '.cache', 'contracts'), join(mirror, '.cache', 'contracts'));
  await build({
    entryPoints: sources,
    outdir: mirror,
    outbase: root,
    bundle: false,
    format: 'esm',
    platform: 'node',
    target: `node${process.versions.node}`,
    sourcemap: 'inline',
    sourcesContent: false,
    tsconfig: join(root, 'tsconfig.json'),
    logLevel: 'error',
  });
  return sources.length;
}
