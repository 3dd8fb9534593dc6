/**
 * How to start one of this repository's entry modules in a new Node process, the way the calling module itself
 * runs: from the TypeScript sources through tsx (`npm start`, the `ath-edge` bin), or from the JavaScript
 * scripts/test.mjs compiles the tests to (there a child started through tsx would spend seconds of CPU loading
 * modules through tsx's hooks — the cost the compiled tests avoid).
 */
import { fileURLToPath } from 'node:url';

export type NodeEntry = {
  /** Node flags to put before `path`. */
  execArgv: string[];
  /** The entry file to run. */
  path: string;
};

/**
 * `entry` is the module's path relative to `callerUrl` (the caller's `import.meta.url`), written with its `.ts`
 * extension, e.g. `nodeEntry(import.meta.url, '../cli.ts')`.
 */
export function nodeEntry(callerUrl: string, entry: string): NodeEntry {
  if (callerUrl.endsWith('.js')) {
    return {
      execArgv: ['--enable-source-maps'],
      path: fileURLToPath(new URL(entry.replace(/\.ts$/, '.js'), callerUrl)),
    };
  }
  return { execArgv: ['--import', 'tsx'], path: fileURLToPath(new URL(entry, callerUrl)) };
}
