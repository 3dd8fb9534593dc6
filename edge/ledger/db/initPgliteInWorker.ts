import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/**
 * PGlite's first open runs initdb inside its WASM heap, which grows to ≈0.9 GB and never shrinks. Run that
 * once in a worker thread — whose memory is returned when it exits — and open the initialized database in
 * the caller's thread: ≈0.35 GB instead of ≈0.9 GB for a data directory (≈0.55 GB in memory, loaded from the
 * worker's dump). Measured on this machine with PGlite 0.5.16.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { PGlite } = await import(workerData.pgliteUrl);
  const db = await PGlite.create(workerData.dataDir === null ? {} : { dataDir: workerData.dataDir });
  let dump = null;
  if (workerData.dataDir === null) dump = await (await db.dumpDataDir('none')).arrayBuffer();
  await db.close();
  parentPort.postMessage({ dump }, dump === null ? [] : [dump]);
})().catch((error) => parentPort.postMessage({ error: error instanceof Error ? error.stack || error.message : String(error) }));
`;

/** True when `dataDir` already holds an initialized cluster (nothing to do). */
export function isInitializedDataDir(dataDir: string): boolean {
  return existsSync(join(dataDir, 'PG_VERSION'));
}

export type InitPgliteInWorkerReturnType = {
  /** For an in-memory database: the initialized data directory as a tarball, to pass as `loadDataDir`. */
  dump: Blob | undefined;
};

/** Initializes a PGlite cluster in a worker thread: into `dataDir`, or (null) in memory, returned as a dump. */
export async function initPgliteInWorker(dataDir: string | null): Promise<InitPgliteInWorkerReturnType> {
  const pgliteUrl = import.meta.resolve('@electric-sql/pglite');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { pgliteUrl, dataDir } });
  try {
    const message = await new Promise<unknown>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the PGlite init worker exited with code ${code}`)));
    });
    const { dump, error } = (message ?? {}) as { dump?: unknown; error?: unknown };
    if (typeof error === 'string') throw new Error(error);
    return { dump: dump instanceof ArrayBuffer ? new Blob([dump]) : undefined };
  } finally {
    await worker.terminate();
  }
}

/**
 * A private per-user cache of the pristine in-memory cluster (a few MB), keyed by the installed PGlite build,
 * so in-memory ledgers (tests, dev) skip initdb: ≈0.7 s to open instead of ≈4 s; new data directories are seeded
 * from it too (openPgliteDb). Only trusted when the
 * directory belongs to this user and nobody else can write it.
 */
export type PristineDumpCache = {
  read(): Promise<Blob | undefined>;
  write(dump: Blob): Promise<void>;
  discard(): Promise<void>;
};

export type PristineDumpCacheParameters = { /** default: <tmpdir>/ath-edge-pglite-<uid> */ dir?: string };

export async function pristineDumpCache({
  dir: cacheDir,
}: PristineDumpCacheParameters = {}): Promise<PristineDumpCache | undefined> {
  const uid = process.getuid?.();
  if (uid === undefined) return undefined;
  const dir = cacheDir ?? join(tmpdir(), `ath-edge-pglite-${uid}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const info = await stat(dir);
  if (info.uid !== uid || (info.mode & 0o077) !== 0) return undefined;
  const entry = fileURLToPath(import.meta.resolve('@electric-sql/pglite'));
  const entryInfo = await stat(entry);
  const key = createHash('sha256').update(`${entry}:${entryInfo.size}:${entryInfo.mtimeMs}`).digest('hex').slice(0, 16);
  const file = join(dir, `pristine-${key}.tar`);
  return {
    async read() {
      try {
        return new Blob([await readFile(file)]);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // not cached yet
        throw error;
      }
    },
    async write(dump) {
      const temporary = `${file}.${process.pid}.tmp`;
      await writeFile(temporary, Buffer.from(await dump.arrayBuffer()), { mode: 0o600 });
      await rename(temporary, file);
    },
    async discard() {
      await rm(file, { force: true });
    },
  };
}
