import { Worker } from 'node:worker_threads';

/**
 * Starts a session worker thread (it loads its modules, then waits for `init`), or with `probeWorker` the
 * worker that serves checkers' probe streams (ProbeStreams.ts).
 *
 * Node 20 passes `--import tsx` on to workers (execArgv) but does not apply the hooks it registers to the
 * worker's own entry module, so `new Worker(new URL('./sessionWorker.ts', import.meta.url))` fails with
 * ERR_UNKNOWN_FILE_EXTENSION. From TypeScript sources, a two-line eval entry registers tsx's ESM hooks in the
 * worker and then imports the real entry; a compiled build (.js) loads its entry directly.
 */
export function spawnSessionWorker(
  name = 'session',
  entryModule: 'sessionWorker' | 'probeWorker' = 'sessionWorker',
): Worker {
  const ownUrl = import.meta.url;
  if (ownUrl.endsWith('.ts')) {
    const entry = new URL(`./${entryModule}.ts`, ownUrl).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    const bootstrap = `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
    return new Worker(bootstrap, { eval: true, name });
  }
  return new Worker(new URL(`./${entryModule}.js`, ownUrl), { name });
}
