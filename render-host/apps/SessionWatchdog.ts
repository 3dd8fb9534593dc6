/**
 * Cleanup that survives the host: a tiny detached shell per session, holding the read end of a pipe from the
 * host process. The host tells it the session's process groups; if the host dies in any way (even SIGKILL)
 * the pipe closes, and the watchdog sends SIGTERM to those groups, SIGKILL after the grace period, and removes
 * the session directory. A clean close disarms it first.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Writable } from 'node:stream';

// $1 = session directory, $2 = grace in tenths of a second. Lines on stdin: `group <pgid>` or `disarm`.
// /bin/sh is dash on Debian: its `kill` takes no `--` ("Illegal number"), so a group is plain `-PGID`.
const SCRIPT = `
trap '' INT HUP
groups=''
while read -r verb arg; do
  case "$verb" in
    group) case "$arg" in *[!0-9]*|'') ;; *) groups="$groups $arg" ;; esac ;;
    disarm) exit 0 ;;
  esac
done
for g in $groups; do kill -TERM "-$g" 2>/dev/null; done
i=0
while [ "$i" -lt "$2" ]; do
  alive=''
  for g in $groups; do kill -0 "-$g" 2>/dev/null && alive=1; done
  [ -z "$alive" ] && break
  sleep 0.1
  i=$((i + 1))
done
for g in $groups; do kill -KILL "-$g" 2>/dev/null; done
rm -rf -- "$1"
`;

const DISARM_WAIT_MS = 1_000;

export type StartSessionWatchdogParameters = {
  sessionDir: string;
  graceMs: number;
  env: Record<string, string>;
};

export class SessionWatchdog {
  readonly #child: ChildProcess;
  readonly #stdin: Writable;
  #disarming: Promise<void> | undefined;

  private constructor(child: ChildProcess, stdin: Writable) {
    this.#child = child;
    this.#stdin = stdin;
  }

  static start({ sessionDir, graceMs, env }: StartSessionWatchdogParameters): SessionWatchdog {
    const child = spawn('/bin/sh', ['-c', SCRIPT, 'ath-edge-watchdog', sessionDir, String(Math.ceil(graceMs / 100))], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
      env: { PATH: '/usr/bin:/bin', ...env },
    });
    const stdin = child.stdin;
    if (!stdin) throw new Error('watchdog has no stdin');
    // Neither the child nor its pipe keeps the host's event loop alive; the pipe stays open as long as we live.
    child.unref();
    (stdin as Writable & { unref?: () => void }).unref?.();
    stdin.on('error', () => {
      // The watchdog is gone (killed by someone): nothing to tell it any more.
    });
    return new SessionWatchdog(child, stdin);
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Adds a process group to kill if the host dies. */
  watchGroup(pgid: number): void {
    if (!this.#disarming) this.#stdin.write(`group ${pgid}\n`);
  }

  /**
   * The session was cleaned up in order: the watchdog exits without touching anything. Resolves once it has
   * exited (≤ 1 s), so that nothing carrying the session's marker outlives the close. Idempotent.
   */
  disarm(): Promise<void> {
    this.#disarming ??= new Promise<void>((resolve) => {
      if (this.#child.exitCode !== null || this.#child.signalCode !== null) {
        resolve();
        return;
      }
      const timer = setTimeout(resolve, DISARM_WAIT_MS);
      this.#child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.#stdin.end('disarm\n');
    });
    return this.#disarming;
  }
}
