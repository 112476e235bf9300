// Readings from /proc: a process's CPU ticks (whole, per thread, of its children), its RSS, its open-files limit,
// its TCP connections to a port, and the whole machine's busy time. Linux only, like the benchmarks.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

export const CLK_TCK = 100;

export function procStatus(pid: number): { rssKb: number; hwmKb: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
    return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
  } catch {
    return null;
  }
}

export function statTicks(file: string): { ticks: number; sys: number; comm: string; pgid: number } | null {
  try {
    const stat = readFileSync(file, 'utf8');
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const rest = stat.slice(close + 2).split(' ');
    // Fields after the comm: state(0) ppid(1) pgrp(2) ... utime(11) stime(12).
    return { ticks: Number(rest[11]) + Number(rest[12]), sys: Number(rest[12]), comm, pgid: Number(rest[2]) };
  } catch {
    return null;
  }
}

/** CPU ticks of the process's main thread (tid = pid) and of all its other threads (parse workers, libuv, GC). */
export function threadTicks(pid: number): { main: number; others: number } {
  let main = 0;
  let others = 0;
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return { main, others };
  }
  for (const tid of tids) {
    const t = statTicks(`/proc/${pid}/task/${tid}/stat`);
    if (!t) continue;
    if (Number(tid) === pid) main += t.ticks;
    else others += t.ticks;
  }
  return { main, others };
}

/** CPU ticks per live `imap` process in Dovecot's process group. */
export function dovecotImapTicks(masterPid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const t = statTicks(`/proc/${name}/stat`);
    if (t && t.pgid === masterPid && t.comm === 'imap') out.set(Number(name), t.ticks);
  }
  return out;
}

/** Busy CPU time of the whole machine (all cores, all processes), from /proc/stat, in ticks. */
export function machineBusyTicks(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait.
  return f.reduce((sum, v) => sum + v, 0) - (f[3] ?? 0) - (f[4] ?? 0);
}

export interface Stat {
  comm: string;
  state: string;
  ppid: number;
  pgid: number;
  /** utime + stime of the process (all its threads), ticks. */
  ticks: number;
  /** cutime + cstime: children it has waited for. */
  childTicks: number;
}

export function processStat(pid: number): Stat | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = text.lastIndexOf(')');
    const f = text.slice(close + 2).split(' ');
    // After the comm: state(0) ppid(1) pgrp(2) ... utime(11) stime(12) cutime(13) cstime(14).
    return {
      comm: text.slice(text.indexOf('(') + 1, close),
      state: f[0]!,
      ppid: Number(f[1]),
      pgid: Number(f[2]),
      ticks: Number(f[11]) + Number(f[12]),
      childTicks: Number(f[13]) + Number(f[14]),
    };
  } catch {
    return null;
  }
}

export function allStats(): Map<number, Stat> {
  const out = new Map<number, Stat>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = processStat(Number(name));
    if (s) out.set(Number(name), s);
  }
  return out;
}

export function memory(pid: number): { rssKb: number; hwmKb: number } {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
    return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
  } catch {
    return { rssKb: NaN, hwmKb: NaN };
  }
}

export function openFilesLimit(pid: number | 'self'): number {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const soft = line?.split(/\s{2,}/)[1];
  return soft === 'unlimited' ? Infinity : Number(soft);
}

/**
 * Established TCP connections from `pid` to 127.0.0.1:`port`: its socket inodes matched in its net namespace's table.
 */
export function connectionsTo(pid: number, port: number): number {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]!);
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    return NaN;
  }
  let count = 0;
  for (const table of ['tcp', 'tcp6']) {
    let text = '';
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      if (f.length < 10 || f[3] !== '01') continue;
      if (parseInt(f[2]!.split(':')[1]!, 16) === port && inodes.has(f[9]!)) count++;
    }
  }
  return count;
}
