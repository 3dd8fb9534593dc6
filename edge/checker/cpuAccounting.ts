/**
 * Where a benchmark's CPU goes, from /proc (Linux): CPU seconds of a process tree (a role process and the
 * processes it spawned), split by thread name, and the whole machine's busy time. Benchmarks only.
 */
import { mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';

const TICKS_PER_SEC = 100;

function statFields(path: string): string[] | undefined {
  try {
    const text = readFileSync(path, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: the fields after it follow the last ')'.
    return text.slice(text.lastIndexOf(') ') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function commOf(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '?';
  }
}

/** `pid` and every process below it, except the subtrees of `exclude`. */
export function processTree(pid: number, exclude: ReadonlySet<number> = new Set()): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = Number(statFields(`/proc/${entry}/stat`)?.[1]);
    if (!Number.isFinite(ppid)) continue;
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const next = queue.shift() as number;
    out.push(next);
    queue.push(...(children.get(next) ?? []).filter((child) => !exclude.has(child)));
  }
  return out;
}

/**
 * CPU seconds so far of a process tree (without the subtrees of `exclude`), all threads, summed by process name
 * (digits folded to #).
 */
export function treeSeconds(rootPid: number, exclude: ReadonlySet<number> = new Set()): Map<string, number> {
  const byName = new Map<string, number>();
  for (const pid of processTree(rootPid, exclude)) {
    // The process's own counters include threads that have ended (a session's worker), unlike its task list.
    const fields = statFields(`/proc/${pid}/stat`);
    if (!fields) continue;
    const seconds = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SEC;
    const name = commOf(`/proc/${pid}/comm`).replace(/\d+/g, '#');
    byName.set(name, (byName.get(name) ?? 0) + seconds);
  }
  return byName;
}

/** CPU seconds so far of each thread (`pid/tid`) of a process tree (without the subtrees of `exclude`). */
export function taskSeconds(rootPid: number, exclude: ReadonlySet<number> = new Set()): Map<string, number> {
  const byTask = new Map<string, number>();
  for (const pid of processTree(rootPid, exclude)) {
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      const fields = statFields(`/proc/${pid}/task/${tid}/stat`);
      if (fields) byTask.set(`${pid}/${tid}`, (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SEC);
    }
  }
  return byTask;
}

/** Busy and total CPU seconds of the whole machine so far (all cores). */
export function machineSeconds(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  const total = ticks.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return { busy: (total - idle) / TICKS_PER_SEC, total: total / TICKS_PER_SEC };
}

export type CpuWatch = { name: string; pid: number };

export type CpuBreakdown = {
  /** Seconds the window lasted. */
  seconds: number;
  /** The whole machine's busy time, in cores (2 = both cores of a 2-core box busy). */
  machineCores: number;
  /** Each watched process tree, in cores. */
  cores: Record<string, number>;
  /** Each watched tree by process name (node, anvil, a game's processes), in cores. */
  processes: Record<string, Record<string, number>>;
  /** The busiest threads of each watched tree, in cores (one thread cannot pass 1: a thread near it is a bottleneck). */
  busiestThreads: Record<string, number[]>;
  /** Busy time of everything else on the machine (other users' work, the kernel), in cores. */
  otherCores: number;
};

/**
 * Starts counting; `stop()` gives what each watched tree and the machine used meanwhile. A watched process below
 * another (a role process the bench spawned) counts for itself only.
 */
export function startCpuWindow(watch: readonly CpuWatch[]): { stop: () => CpuBreakdown } {
  const t0 = performance.now();
  const machine0 = machineSeconds();
  const roots = new Set(watch.map((w) => w.pid));
  const others = (pid: number) => new Set([...roots].filter((root) => root !== pid));
  const before = watch.map((w) => treeSeconds(w.pid, others(w.pid)));
  const tasksBefore = watch.map((w) => taskSeconds(w.pid, others(w.pid)));
  return {
    stop: () => {
      const seconds = (performance.now() - t0) / 1000;
      const machine1 = machineSeconds();
      const cores: Record<string, number> = {};
      const processes: Record<string, Record<string, number>> = {};
      const busiestThreads: Record<string, number[]> = {};
      let watched = 0;
      watch.forEach((w, i) => {
        const after = treeSeconds(w.pid, others(w.pid));
        const tasks = [...taskSeconds(w.pid, others(w.pid))].map(
          ([task, s]) => (s - (tasksBefore[i]?.get(task) ?? 0)) / seconds,
        );
        busiestThreads[w.name] = [...(busiestThreads[w.name] ?? []), ...tasks]
          .sort((a, b) => b - a)
          .slice(0, 4)
          .map((c) => Math.round(c * 100) / 100);
        const used: [string, number][] = [...after].map(([name, s]) => [
          name,
          (s - (before[i]?.get(name) ?? 0)) / seconds,
        ]);
        const total = used.reduce((sum, [, c]) => sum + c, 0);
        cores[w.name] = (cores[w.name] ?? 0) + total;
        watched += total;
        const top = used
          .filter(([, c]) => c >= 0.01)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 6);
        processes[w.name] = {
          ...processes[w.name],
          ...Object.fromEntries(top.map(([n, c]) => [n, Math.round(c * 100) / 100])),
        };
      });
      const machineCores = (machine1.busy - machine0.busy) / seconds;
      return {
        seconds,
        machineCores,
        cores,
        processes,
        busiestThreads,
        otherCores: Math.max(0, machineCores - watched),
      };
    },
  };
}

/**
 * CPU control groups (cgroup v1 `cpu` controller, root only) for a benchmark's parts: one parent group weighted
 * `shares` against the rest of the machine (a process outside any group weighs 1024), and named subgroups that
 * split the parent's share by their own weights. Named `<prefix><random>`; `close()` moves their processes back
 * to the root group and removes them.
 */
export class CpuGroups {
  static readonly ROOT = '/sys/fs/cgroup/cpu';
  readonly #base: string;
  readonly #dirs: string[] = [];

  private constructor(base: string) {
    this.#base = base;
  }

  /** Undefined where cgroup v1's cpu controller cannot be written (not root, cgroup v2 only). */
  static open(prefix: string, shares: number): CpuGroups | undefined {
    const base = `${CpuGroups.ROOT}/${prefix}${Math.random().toString(16).slice(2, 8)}`;
    try {
      mkdirSync(base);
    } catch {
      return undefined;
    }
    const groups = new CpuGroups(base);
    try {
      writeFileSync(`${base}/cpu.shares`, String(shares));
      return groups;
    } catch {
      groups.close();
      return undefined;
    }
  }

  /** A subgroup weighted `shares`; returns its directory. */
  group(name: string, shares: number): string {
    const dir = `${this.#base}/${name}`;
    mkdirSync(dir);
    this.#dirs.push(dir);
    writeFileSync(`${dir}/cpu.shares`, String(shares));
    return dir;
  }

  /** Moves a process (all its threads; its later children follow) into a group. */
  static move(dir: string, pid: number): void {
    writeFileSync(`${dir}/cgroup.procs`, String(pid));
  }

  /** A command prefix that runs a command inside a group (RoleProcess's `launcher`): the IPC descriptor stays. */
  static launcher(dir: string): string[] {
    return ['sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', dir];
  }

  /** Idempotent. */
  close(): void {
    for (const dir of [...this.#dirs.splice(0).reverse(), this.#base]) {
      try {
        for (const pid of readFileSync(`${dir}/cgroup.procs`, 'utf8').split('\n').filter(Boolean)) {
          try {
            writeFileSync(`${CpuGroups.ROOT}/cgroup.procs`, pid);
          } catch {
            // exited meanwhile
          }
        }
        rmdirSync(dir);
      } catch {
        // already removed
      }
    }
  }
}
