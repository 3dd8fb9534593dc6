/**
 * Starts Debian's `redis-server` on a free loopback port, without persistence (`--save ''`): for tests, and for
 * `npm start -- --signaling-instances 2` when no Redis URL is configured. The child exits with this process
 * (SIGTERM on exit, SIGKILL after a grace); `restart()` stops it hard and starts a fresh, empty one on the
 * same port (a Redis crash, for the recovery tests).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, Socket } from 'node:net';
import { AthError } from '../../protocol/index.js';

export type StartRedisServerParameters = {
  /** The binary; default `redis-server` from PATH (Debian: /usr/bin/redis-server). */
  binary?: string;
  /** 0 or absent: a free port. */
  port?: number;
  timeoutMs?: number;
  /**
   * Ends redis-server when this process ends, however it ends (SIGKILL included): it runs under a small shell
   * that kills it when the pipe from this process closes. For long-lived parents (`npm start`, benchmarks).
   */
  dieWithParent?: boolean;
};

export type RedisServer = {
  readonly url: string;
  readonly port: number;
  readonly pid: number | undefined;
  /** Kills it (SIGKILL) and starts an empty one on the same port. */
  restart(): Promise<void>;
  /** Kills it without waiting for a clean shutdown (a crash). */
  kill(): void;
  /** Stops it; idempotent. */
  close(): Promise<void>;
};

export async function startRedisServer({
  binary = 'redis-server',
  port = 0,
  timeoutMs = 10_000,
  dieWithParent = false,
}: StartRedisServerParameters = {}): Promise<RedisServer> {
  let child: ChildProcess | undefined;
  let boundPort = port;
  for (let attempt = 0; attempt < 3 && !child; attempt++) {
    boundPort = port || (await freeLoopbackPort());
    try {
      child = await launch(binary, boundPort, timeoutMs, dieWithParent);
    } catch (error) {
      if (port || attempt === 2) throw error;
    }
  }
  if (!child) throw redisError('redis-server did not start');
  let current: ChildProcess = child;
  let closed = false;
  const onExit = () => current.kill('SIGKILL');
  process.once('exit', onExit);
  const stop = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = current;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    // Under the keeper shell: closing its stdin makes it kill redis-server (with SIGKILL) and exit.
    if (dieWithParent) proc.stdin?.end();
    else proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(timer);
  };
  return {
    url: `redis://127.0.0.1:${boundPort}`,
    port: boundPort,
    get pid() {
      return current.pid;
    },
    kill: () => (dieWithParent ? current.stdin?.end() : current.kill('SIGKILL')),
    restart: async () => {
      await stop('SIGKILL');
      current = await launch(binary, boundPort, timeoutMs, dieWithParent);
    },
    close: async () => {
      if (closed) return;
      closed = true;
      process.off('exit', onExit);
      await stop('SIGTERM');
    },
  };
}

/**
 * Runs redis-server in the background and kills it when stdin closes (the parent ended, however it ended); exits
 * with redis-server's status when redis-server ends by itself (a port taken: the caller retries at once).
 * A background list's stdin is /dev/null in sh, hence the parent's pipe kept on fd 3 for the watcher.
 */
const KEEPER = [
  'bin="$1"; shift; exec 3<&0',
  '"$bin" "$@" </dev/null & child=$!',
  '{ read -r _ <&3 || true; kill -9 "$child" 2>/dev/null; } & watcher=$!',
  'wait "$child"; code=$?; kill "$watcher" 2>/dev/null; exit "$code"',
].join('\n');

async function launch(binary: string, port: number, timeoutMs: number, dieWithParent: boolean): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const child = dieWithParent
    ? spawn('sh', ['-c', KEEPER, 'redis-keeper', binary, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    if (output.length < 4096) output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    if (output.length < 4096) output += chunk.toString();
  });
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (error) =>
      reject(redisError(`cannot run ${binary}: apt-get install redis-server`, String(error))),
    );
    child.once('exit', (code) => reject(redisError(`redis-server exited (${code})`, output)));
  });
  failed.catch(() => undefined);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await answersPing(port)) return child;
    await Promise.race([failed, new Promise((resolve) => setTimeout(resolve, 50))]);
  }
  if (dieWithParent) child.stdin?.end();
  child.kill('SIGKILL');
  throw redisError('redis-server did not answer PING in time', output);
}

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function redisError(shortMessage: string, details?: string): AthError {
  return new AthError({ code: 'ATH_ERR_REDIS', shortMessage, ...(details ? { details } : {}) });
}
