/**
 * Where a benchmark's CPU goes: every process below this one (the stack's roles, Chromium by process type,
 * coturn, anvil, …) and what the rest of the machine used meanwhile, from /proc, over a window. A stream's
 * figures on a 2-core box depend on all of it: this says whether the bench's own setup (a booting worker, a
 * checker round, another session) or another user of the machine ran beside the measured stream.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Linux reports CPU time in clock ticks of 1/100 s (USER_HZ). */
const CLOCK_TICKS = 100;

type ProcessRow = { pid: number; ppid: number; cpuSeconds: number; label: string };

function readProcess(pid: number): { ppid: number; cpuSeconds: number; cmd: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    return {
      ppid: Number(fields[1]),
      cpuSeconds: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS,
      cmd,
    };
  } catch {
    return undefined; // gone meanwhile
  }
}

function labelOf(cmd: string, named: ReadonlyMap<number, string>, pid: number): string | undefined {
  const own = named.get(pid);
  if (own) return own;
  if (cmd.includes('chromium')) {
    const type = /--type=([a-z-]+)/.exec(cmd)?.[1];
    return type ? `chromium-${type}` : 'chromium';
  }
  if (cmd.includes('turnserver')) return 'coturn';
  if (cmd.includes('anvil')) return 'anvil';
  if (cmd.includes('redis-server')) return 'redis';
  if (cmd.includes('postgres')) return 'postgres';
  return undefined;
}

/** This process and everything below it, labelled (`named`: pid → label for the stack's own roles). */
function descendants(named: ReadonlyMap<number, string>): ProcessRow[] {
  const all = new Map<number, { ppid: number; cpuSeconds: number; cmd: string }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const row = readProcess(Number(entry));
    if (row) all.set(Number(entry), row);
  }
  const children = new Map<number, number[]>();
  for (const [pid, { ppid }] of all) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  const rows: ProcessRow[] = [];
  const walk = (pid: number, inherited: string) => {
    const row = all.get(pid);
    if (!row) return;
    const label = labelOf(row.cmd, named, pid) ?? inherited;
    rows.push({ pid, ppid: row.ppid, cpuSeconds: row.cpuSeconds, label });
    for (const child of children.get(pid) ?? []) walk(child, label === 'bench' ? 'other' : label);
  };
  walk(process.pid, 'bench');
  return rows;
}

/** Busy and total jiffies of the whole machine (all cores). */
function machineJiffies(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const total = values.reduce((sum, value) => sum + value, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return { busy: total - idle, total };
}

export type ProcessCpuWindow = {
  /** % of one core each label used over the window (processes that started meanwhile count from zero). */
  cpuPctByProcess: Record<string, number>;
  /** % of one core used by every process on the machine that is not this benchmark's. */
  otherMachineCpuPct: number;
  windowSec: number;
};

/** Starts a window now; `end()` gives the CPU each labelled process (and the rest of the machine) used in it. */
export function startProcessCpuWindow(named: ReadonlyMap<number, string> = new Map()): {
  end(): ProcessCpuWindow;
} {
  const startedMs = performance.now();
  const before = new Map(descendants(named).map((row) => [row.pid, row.cpuSeconds]));
  const machineBefore = machineJiffies();
  return {
    end() {
      const windowSec = (performance.now() - startedMs) / 1000;
      const machineAfter = machineJiffies();
      const byLabel: Record<string, number> = {};
      let ours = 0;
      for (const row of descendants(named)) {
        const used = row.cpuSeconds - (before.get(row.pid) ?? 0);
        byLabel[row.label] = (byLabel[row.label] ?? 0) + used;
        ours += used;
      }
      const machineBusySec = (machineAfter.busy - machineBefore.busy) / CLOCK_TICKS;
      const pct = (seconds: number) => Math.round((1000 * seconds) / windowSec) / 10;
      return {
        cpuPctByProcess: Object.fromEntries(
          Object.entries(byLabel)
            .filter(([, seconds]) => seconds > 0)
            .sort((a, b) => b[1] - a[1])
            .map(([label, seconds]) => [label, pct(seconds)]),
        ),
        otherMachineCpuPct: Math.max(0, pct(machineBusySec - ours)),
        windowSec: Math.round(windowSec * 10) / 10,
      };
    },
  };
}

/** The stack's role processes by pid (signaling, render hosts, checkers), for `startProcessCpuWindow`. */
export function stackProcessLabels(stack: {
  signalingServers: ReadonlyArray<{ pid: number | undefined; role: string }>;
  renderHosts: ReadonlyArray<{ pid: number | undefined; role: string }>;
  checkers: ReadonlyArray<{ pid: number | undefined; role: string }>;
}): Map<number, string> {
  const labels = new Map<number, string>();
  for (const role of [...stack.signalingServers, ...stack.renderHosts, ...stack.checkers]) {
    if (role.pid !== undefined) labels.set(role.pid, role.role);
  }
  return labels;
}
