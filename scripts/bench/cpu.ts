/**
 * Where CPU time goes during a benchmark, read from /proc: the machine's busy time (/proc/stat) and
 * each named process tree's (/proc/<pid>/stat: utime + stime of the process and of every live
 * descendant, plus cutime + cstime, the time of the children they have already reaped, so a
 * PostgreSQL backend that exits mid-window is still counted in its postmaster's tree). All in clock
 * ticks of USER_HZ (100 a second on Linux), turned into cores: CPU seconds ÷ wall seconds.
 */
import { readdirSync, readFileSync } from "node:fs";

/** USER_HZ: what /proc reports times in (100 on every Linux architecture Node runs on). */
const TICKS_PER_SECOND = 100;

interface ProcStat {
  ppid: number;
  /** utime + stime + cutime + cstime */
  ticks: number;
}

function procStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state): ppid is field 4, utime…cstime fields 14–17.
  const [utime, stime, cutime, cstime] = [11, 12, 13, 14].map((i) => Number(fields[i]));
  return { ppid: Number(fields[1]), ticks: utime! + stime! + cutime! + cstime! };
}

function allStats(): Map<number, ProcStat> {
  const stats = new Map<number, ProcStat>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = procStat(Number(name));
    if (stat !== null) stats.set(Number(name), stat);
  }
  return stats;
}

/** The machine's busy ticks over all CPUs (user, nice, system, irq, softirq, steal; not idle or iowait). */
function machineBusyTicks(): number {
  const [, user, nice, system, , , irq, softirq, steal] = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).map(Number);
  return user! + nice! + system! + irq! + softirq! + steal!;
}

/** A process's command line, or "" once it is gone. */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return "";
  }
}

/** The live children of `pid` whose command line contains `needle`. */
export function childrenMatching(pid: number, needle: string): number[] {
  return [...allStats()].filter(([child, stat]) => stat.ppid === pid && commandLine(child).includes(needle)).map(([child]) => child);
}

export interface CpuSnapshot {
  at: number;
  machine: number;
  /** Ticks of each named tree; a tree nested in another is subtracted from it (the innermost name owns it). */
  groups: Record<string, number>;
}

/**
 * Ticks of each named process tree now. `groups` maps a name to its root pids; where one group's
 * root lies inside another's tree (the HTTP processes inside the bench's own), the inner group's
 * ticks are taken out of the outer one, so every tick is counted once.
 */
export function cpuSnapshot(groups: Record<string, number[]>): CpuSnapshot {
  const stats = allStats();
  const owner = new Map<number, string>();
  for (const [name, pids] of Object.entries(groups)) for (const pid of pids) owner.set(pid, name);
  const children = new Map<number, number[]>();
  for (const [pid, stat] of stats) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), pid]);
  const totals: Record<string, number> = Object.fromEntries(Object.keys(groups).map((name) => [name, 0]));
  // Walk each root's tree, stopping at a root of another group (it is counted under its own name).
  const walk = (pid: number, name: string) => {
    totals[name]! += stats.get(pid)?.ticks ?? 0;
    for (const child of children.get(pid) ?? []) if (!owner.has(child)) walk(child, name);
  };
  for (const [pid, name] of owner) walk(pid, name);
  // A group's reaped children are in its cutime; an inner group's reaped children are in the inner root's.
  // What an outer root reaped of an inner group is not possible here (inner roots outlive the window).
  return { at: performance.now(), machine: machineBusyTicks(), groups: totals };
}

export interface CpuUse {
  seconds: number;
  /** Cores busy over the window: the whole machine, each group, and the rest of the machine (other users). */
  machine: number;
  groups: Record<string, number>;
  others: number;
}

export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot): CpuUse {
  const seconds = (b.at - a.at) / 1000;
  const cores = (ticks: number) => ticks / TICKS_PER_SECOND / seconds;
  const groups = Object.fromEntries(Object.keys(b.groups).map((name) => [name, cores(Math.max(0, b.groups[name]! - (a.groups[name] ?? 0)))]));
  const machine = cores(b.machine - a.machine);
  const ours = Object.values(groups).reduce((sum, c) => sum + c, 0);
  return { seconds, machine, groups, others: Math.max(0, machine - ours) };
}
