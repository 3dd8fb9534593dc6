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
}: StartRedisServerParameters = {}): Promise<RedisServer> {
  let child: ChildProcess | undefined;
  let boundPort = port;
  for (let attempt = 0; attempt < 3 && !child; attempt++) {
    boundPort = port || (await freeLoopbackPort());
    try {
      child = await launch(binary, boundPort, timeoutMs);
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
    proc.kill(signal);
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
    kill: () => current.kill('SIGKILL'),
    restart: async () => {
      await stop('SIGKILL');
      current = await launch(binary, boundPort, timeoutMs);
    },
    close: async () => {
      if (closed) return;
      closed = true;
      process.off('exit', onExit);
      await stop('SIGTERM');
    },
  };
}

async function launch(binary: string, port: number, timeoutMs: number): Promise<ChildProcess> {
  const child = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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
