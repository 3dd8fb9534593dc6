import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { ledgerError } from '../errors.js';

const run = promisify(execFile);

export type StartTestPostgresParameters = {
  /** Directory with `initdb` and `pg_ctl`; default: the newest /usr/lib/postgresql/<v>/bin, else PATH. */
  binDir?: string;
  /** Start-up timeout; default 30 s. */
  timeoutSec?: number;
};

export type StartTestPostgresReturnType = {
  /** `postgres://postgres@127.0.0.1:PORT/postgres` (trust auth, loopback only). */
  url: string;
  port: number;
  /** Creates an empty database and returns its URL (for tests that need a fresh schema). */
  createDatabase(name?: string): Promise<string>;
  /** Stops the server and deletes its directory. Idempotent. */
  close(): Promise<void>;
};

const INSTALL_HINT = 'PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql';

/**
 * Starts a throw-away PostgreSQL server for tests: a temp directory, `initdb`, `pg_ctl start` on a free
 * loopback port with its socket in the temp directory, fsync off. initdb refuses root, so as root it runs as
 * the `postgres` user (created with useradd only if missing). Call `close()` in `after`; a process exit
 * stops it too.
 */
export async function startTestPostgres({
  binDir = findBinDir(),
  timeoutSec = 30,
}: StartTestPostgresParameters = {}): Promise<StartTestPostgresReturnType> {
  const initdb = join(binDir, 'initdb');
  const pgCtl = join(binDir, 'pg_ctl');
  if (!existsSync(initdb) || !existsSync(pgCtl)) {
    throw ledgerError('ATH_ERR_LEDGER_TEST_POSTGRES', INSTALL_HINT, { details: binDir });
  }
  const asUser = process.getuid?.() === 0 ? ensurePostgresUser() : undefined;
  const command = (file: string, args: string[]): [string, string[]] =>
    asUser === undefined ? [file, args] : ['runuser', ['-u', asUser.name, '--', file, ...args]];

  const dir = mkdtempSync(join(tmpdir(), 'ath-ledger-pg-'));
  if (asUser !== undefined) chownSync(dir, asUser.uid, asUser.gid);
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  const cleanupDir = (): void => rmSync(dir, { recursive: true, force: true });

  try {
    await run(
      ...command(initdb, ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync']),
      { timeout: timeoutSec * 1000 },
    );
  } catch (error) {
    cleanupDir();
    throw ledgerError('ATH_ERR_LEDGER_TEST_POSTGRES', 'initdb failed', { details: stderrOf(error), cause: error });
  }

  let port = 0;
  let started = false;
  let lastError: unknown;
  // A free port can be taken between probing and binding: try a few.
  for (let attempt = 0; attempt < 3 && !started; attempt++) {
    port = await freeLoopbackPort();
    const options = [
      `-p ${port}`,
      `-k ${dir}`,
      '-c listen_addresses=127.0.0.1',
      '-c fsync=off',
      '-c synchronous_commit=off',
      '-c full_page_writes=off',
      '-c max_connections=60',
      '-c shared_buffers=32MB',
    ].join(' ');
    try {
      await run(
        ...command(pgCtl, ['-D', dataDir, '-o', options, '-l', logFile, '-w', '-t', String(timeoutSec), 'start']),
        {
          timeout: (timeoutSec + 5) * 1000,
        },
      );
      started = true;
    } catch (error) {
      lastError = error;
    }
  }
  if (!started) {
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : '';
    cleanupDir();
    throw ledgerError('ATH_ERR_LEDGER_TEST_POSTGRES', 'pg_ctl start failed', {
      details: `${stderrOf(lastError)} ${log}`,
      cause: lastError,
    });
  }

  const stopSync = (): void => {
    try {
      execFileSync(...command(pgCtl, ['-D', dataDir, '-m', 'immediate', '-w', 'stop']), {
        stdio: 'ignore',
        timeout: 10_000,
      });
    } catch {
      // Exiting anyway; nothing else to do with a failure here.
    }
    cleanupDir();
  };
  process.once('exit', stopSync);

  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let closed = false;
  return {
    url,
    port,
    async createDatabase(name = `t_${randomBytes(6).toString('hex')}`) {
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) {
        throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', 'not a database name', { details: name });
      }
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`create database ${name}`);
      } finally {
        await client.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    async close() {
      if (closed) return;
      closed = true;
      process.removeListener('exit', stopSync);
      try {
        await run(...command(pgCtl, ['-D', dataDir, '-m', 'fast', '-w', '-t', '20', 'stop']), { timeout: 25_000 });
      } finally {
        cleanupDir();
      }
    },
  };
}

function findBinDir(): string {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0] !== undefined) return join(root, versions[0], 'bin');
  }
  try {
    const initdb = execFileSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' }).trim();
    if (initdb !== '') return dirname(initdb);
  } catch {
    // Not on PATH either: fall through to the install hint.
  }
  throw ledgerError('ATH_ERR_LEDGER_TEST_POSTGRES', INSTALL_HINT);
}

type PostgresUser = { name: string; uid: number; gid: number };

function ensurePostgresUser(): PostgresUser {
  const name = 'postgres';
  const lookup = (): PostgresUser | undefined => {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
      return { name, uid, gid };
    } catch {
      return undefined;
    }
  };
  const existing = lookup();
  if (existing !== undefined) return existing;
  execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', name], { stdio: 'ignore' });
  const created = lookup();
  if (created === undefined) {
    throw ledgerError('ATH_ERR_LEDGER_TEST_POSTGRES', 'could not create the postgres user to run initdb as');
  }
  return created;
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function stderrOf(error: unknown): string {
  const stderr: unknown = (error as { stderr?: unknown } | undefined)?.stderr;
  return typeof stderr === 'string' ? stderr.slice(-2000) : error instanceof Error ? error.message : String(error);
}
