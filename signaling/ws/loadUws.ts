/**
 * Finds a native uWebSockets.js build this process can load. uWebSockets.js is not on the npm registry under
 * its own name; two builds are, each with binaries for some Node ABIs and glibc versions (checked 2026-12-06
 * by listing their tarballs and their binaries' GLIBC symbol versions):
 *
 *   @btc-vision/uwebsockets.js 20.57.0          Node 20, 22, 24, 25 (ABI 115/127/137/141), needs glibc ≥ 2.38
 *                                               (Debian 13, Ubuntu 24.04)
 *   uWebSockets.js → @trufflesuite/uws-js-unofficial 20.30.0   Node 16, 18, 20 (ABI 93/108/115), glibc ≥ 2.34
 *                                               (Debian 12); on any other Node its loader falls back to a slow
 *                                               pure-JS build, which is refused here
 *
 * The first that loads natively wins. Neither: `undefined` with the reasons, and signaling serves its
 * WebSockets on @fastify/websocket instead (startSignaling logs it).
 */

import type uWS from 'uWebSockets.js';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export type UwsModule = typeof uWS;

export type UwsLoad = { ok: true; uws: UwsModule; build: string } | { ok: false; reasons: string[] };

/** Package names tried in order (the newer build first). */
export const UWS_BUILDS = ['@btc-vision/uwebsockets.js', 'uWebSockets.js'] as const;

let cached: UwsLoad | undefined;

/**
 * Loads the first native build of `builds`. Loaded with `require`: a build whose binary fails to load throws a
 * plain exception there, where a failed ESM import of it leaves an error that ends the process later.
 */
export function loadUws(builds: readonly string[] = UWS_BUILDS): UwsLoad {
  if (builds === UWS_BUILDS && cached) return cached;
  const require = createRequire(import.meta.url);
  const reasons: string[] = [];
  let result: UwsLoad | undefined;
  const binary = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  for (const name of builds) {
    try {
      // Not even required when its tarball has no binary for this ABI (a loader would print and fall back).
      const root = packageRoot(require.resolve(name));
      if (root && !['', 'binaries', 'dist'].some((sub) => existsSync(join(root, sub, binary)))) {
        reasons.push(`${name}: no ${binary} in the package (Node ${process.versions.node})`);
        continue;
      }
      const module = require(name) as UwsModule;
      if (String(module.App).includes('[native code]')) {
        const version = packageVersion(root);
        result = { ok: true, uws: module, build: `${name}@${version}` };
        break;
      }
      reasons.push(`${name}: only its JavaScript fallback loads on Node ${process.versions.node}`);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // The uWS loaders wrap the dlopen error (a missing binary, a too-old glibc) after a blank line: keep
      // that; anything else (not installed), its first line.
      const cause = message.includes('\n\nError: ') ? message.slice(message.lastIndexOf('\n\nError: ') + 9) : message;
      reasons.push(`${name}: ${cause.trim().split('\n')[0]}`);
    }
  }
  result ??= { ok: false, reasons };
  if (builds === UWS_BUILDS) cached = result;
  return result;
}

/** The directory of the package.json nearest above `entry` (its main is not always at the top). */
function packageRoot(entry: string): string | undefined {
  for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
  }
  return undefined;
}

function packageVersion(root: string | undefined): string {
  if (!root) return '?';
  return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: string }).version ?? '?';
}
