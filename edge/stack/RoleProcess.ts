/**
 * One role of the dev stack in its own Node process (`ath-edge <role>`), so a busy render host never
 * stalls signaling and each role has its own metrics registry, as in a real deployment. The child says
 * `ready` with its info over the IPC channel; it exits by itself when that channel closes, so a parent that
 * dies leaves no orphans.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { AthError } from '../../signaling/protocol/index.js';
import { nodeEntry } from './nodeEntry.js';

/** `ath-edge`'s entry, run as this module runs (TypeScript through tsx, or the tests' compiled JavaScript). */
const CLI = nodeEntry(import.meta.url, '../cli.ts');

/** What a role process sends its parent. */
export type RoleProcessMessage = { type: 'ready'; info: unknown } | { type: 'failed'; message: string };

export type SpawnRoleParameters = {
  role: string;
  args: readonly string[];
  /** The role's stdout/stderr go here (its pino log file is set by flags). */
  outputFile: string;
  readyTimeoutMs?: number;
  env?: Record<string, string>;
  /** A command the role runs under, e.g. `['ip', 'netns', 'exec', NAME]` (it must exec Node, keeping the IPC fd). */
  launcher?: readonly string[];
};

export class RoleProcess<Info> {
  readonly role: string;
  readonly info: Info;
  readonly #child: ChildProcess;
  readonly #exited: Promise<number | null>;

  private constructor(role: string, child: ChildProcess, info: Info, exited: Promise<number | null>) {
    this.role = role;
    this.#child = child;
    this.info = info;
    this.#exited = exited;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get exited(): Promise<number | null> {
    return this.#exited;
  }

  static spawn<Info>({
    role,
    args,
    outputFile,
    readyTimeoutMs = 60_000,
    env = {},
    launcher = [],
  }: SpawnRoleParameters): Promise<RoleProcess<Info>> {
    mkdirSync(dirname(outputFile), { recursive: true });
    const output = createWriteStream(outputFile, { flags: 'a' });
    const command = [...launcher, process.execPath, ...CLI.execArgv, CLI.path, role, ...args];
    const child = spawn(command[0] ?? process.execPath, command.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, ...env },
    });
    child.stdout?.pipe(output, { end: false });
    let stderrTail = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      output.write(chunk);
      stderrTail = (stderrTail + chunk.toString()).slice(-4000);
    });
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code, signal) => {
        output.end();
        resolve(code ?? (signal ? 128 : null));
      });
    });
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(
          new AthError({
            code: 'ATH_ERR_ROLE_FAILED',
            shortMessage: `${role} did not start: ${why}`,
            details: `${stderrTail.trim().split('\n').slice(-15).join('\n')}\n(see ${outputFile})`,
          }),
        );
      };
      const timer = setTimeout(() => fail(`not ready after ${readyTimeoutMs} ms`), readyTimeoutMs);
      child.on('message', (message: RoleProcessMessage) => {
        if (message.type === 'ready') {
          clearTimeout(timer);
          resolve(new RoleProcess<Info>(role, child, message.info as Info, exited));
        } else if (message.type === 'failed') {
          fail(message.message);
        }
      });
      child.once('exit', (code) => fail(`exited with code ${code}`));
    });
  }

  /** Asks the role to shut down cleanly; kills it if it has not exited within `timeoutMs`. */
  async stop(timeoutMs = 8_000): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    if (this.#child.connected) this.#child.send({ type: 'shutdown' });
    else this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), timeoutMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** Fault injection for tests: the process dies at once, without closing anything. */
  kill(): void {
    this.#child.kill('SIGKILL');
  }
}
