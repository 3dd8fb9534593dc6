/**
 * The embedded chain: anvil from `@foundry-rs/anvil` (a prebuilt binary in an npm package — runs offline),
 * on loopback, on a free port, killed with its parent.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { AthError } from '../../signaling/protocol/index.js';
import { ChainErrorCode } from './errors.js';

const require = createRequire(import.meta.url);

export function anvilBinaryPath(): string {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  const platform = process.platform === 'win32' ? 'win32' : process.platform;
  try {
    return join(dirname(require.resolve(`@foundry-rs/anvil-${platform}-${arch}/package.json`)), 'bin', 'anvil');
  } catch (cause) {
    throw new AthError({
      code: ChainErrorCode.anvil,
      shortMessage: `no anvil binary for ${platform}-${arch}`,
      details: 'npm ci installs @foundry-rs/anvil with its platform package',
      cause,
    });
  }
}

export type StartAnvilParameters = {
  port?: number;
  /**
   * The address anvil listens on (default 127.0.0.1: only this machine reaches the chain). `0.0.0.0` or a LAN
   * address lets browsers on other machines deposit on a dev chain (config `chain.anvilHost`, README).
   */
  host?: string;
  chainId?: number;
  /** Seconds between blocks; undefined = a block per transaction (automine). */
  blockTimeSec?: number;
  /** Deterministic dev accounts funded with ETH (anvil's well-known mnemonic). */
  accounts?: number;
  /**
   * A state file: loaded at start when it exists, written when anvil exits (`--state`). With the same `port`
   * it lets a test stop the chain (an RPC outage) and bring the same chain back.
   */
  statePath?: string;
  /**
   * Ends anvil when this process ends however it ends, SIGKILL included (the `exit` hook below does not run
   * then): anvil runs under a small shell that stops it when the pipe from this process closes. For
   * benchmarks, whose kill must not leave a chain behind.
   */
  tiedToParent?: boolean;
};

/**
 * Runs the binary in the background and sends it SIGTERM when stdin closes (this process ended, or `close()`);
 * exits with the binary's status when it ends by itself. A background list's stdin is /dev/null in sh, hence
 * the pipe kept on fd 3 for the watcher.
 */
const KEEPER = [
  'bin="$1"; shift; exec 3<&0',
  '"$bin" "$@" </dev/null & child=$!',
  '{ read -r _ <&3 || true; kill -TERM "$child" 2>/dev/null; } & watcher=$!',
  'wait "$child"; code=$?; kill "$watcher" 2>/dev/null; exit "$code"',
].join('\n');

export type Anvil = {
  readonly rpcUrl: string;
  readonly chainId: number;
  readonly pid: number | undefined;
  close(): Promise<void>;
};

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Starts anvil and resolves once it listens. `close()` is idempotent; anvil also dies with this process. */
/** The URL this machine reaches anvil at: a wildcard bind is reached on loopback. */
function localRpcUrl(host: string, port: string): string {
  if (host === '0.0.0.0') return `http://127.0.0.1:${port}`;
  if (host === '::') return `http://[::1]:${port}`;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export function startAnvil({
  port = 0,
  host = '127.0.0.1',
  chainId = 31337,
  blockTimeSec,
  accounts = 10,
  statePath,
  tiedToParent = false,
}: StartAnvilParameters = {}): Promise<Anvil> {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const child of live) child.kill('SIGKILL');
    });
  }
  const args = ['--host', host, '--port', String(port), '--chain-id', String(chainId), '--accounts', String(accounts)];
  if (blockTimeSec !== undefined) args.push('--block-time', String(blockTimeSec));
  if (statePath !== undefined) args.push('--state', statePath);
  const child = tiedToParent
    ? spawn('sh', ['-c', KEEPER, 'anvil-keeper', anvilBinaryPath(), ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn(anvilBinaryPath(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // Under the keeper, closing its stdin stops anvil (SIGTERM: anvil writes its state file as it does on SIGTERM).
  const stop = (signal: NodeJS.Signals) => {
    if (tiedToParent) child.stdin?.end();
    if (!tiedToParent || signal === 'SIGKILL') child.kill(signal);
  };
  live.add(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail('anvil did not start within 20 s'), 20_000);
    const fail = (why: string) => {
      clearTimeout(timer);
      stop('SIGKILL');
      live.delete(child);
      reject(new AthError({ code: ChainErrorCode.anvil, shortMessage: why, details: output.slice(-2000) }));
    };
    child.once('exit', (code) => fail(`anvil exited with code ${code}`));
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Listening on \S+:(\d+)/.exec(output);
      if (!match) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.stdout?.removeAllListeners('data');
      child.stdout?.resume();
      const exited = new Promise<void>((done) => child.once('exit', () => done()));
      let closing: Promise<void> | undefined;
      resolve({
        rpcUrl: localRpcUrl(host, match[1] ?? ''),
        chainId,
        pid: child.pid,
        close: () => {
          closing ??= (async () => {
            if (child.exitCode === null && child.signalCode === null) stop('SIGTERM');
            await exited;
            live.delete(child);
          })();
          return closing;
        },
      });
    });
  });
}
