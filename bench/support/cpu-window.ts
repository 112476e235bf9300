// A CPU window over one scenario: Conversa's main thread and its other threads, Dovecot's imap processes, this
// script and everything else on the machine, from /proc ticks between start and stop().
import { now } from './format.js';
import { CLK_TCK, dovecotImapTicks, machineBusyTicks, statTicks, threadTicks } from './proc-stats.js';

export interface CpuFigures {
  /** Conversa's main thread and its other threads (parse worker, libuv pool, GC helpers), CPU seconds. */
  mainS: number;
  othersS: number;
  /** Of mainS + othersS, time in the kernel (file system calls: blobs, SQLite WAL; sockets). */
  sysS: number;
  /** Dovecot's imap processes. */
  dovecotS: number;
  /** Everything else on the machine (other engineers' tests, CI...), net of the above and of this script. */
  backgroundS: number;
  /** This script's own process (imapflow in the baseline). */
  benchS: number;
  wallS: number;
}

export interface CpuWindow {
  stop(): CpuFigures;
}

export function cpuWindow(pid: number | null, dovecotPid: number): CpuWindow {
  const t0 = now();
  const ticks = () => (pid === null ? { main: 0, others: 0 } : threadTicks(pid));
  const sys = () => (pid === null ? 0 : (statTicks(`/proc/${pid}/stat`)?.sys ?? 0));
  const c0 = ticks();
  const s0 = sys();
  const d0 = dovecotImapTicks(dovecotPid);
  const m0 = machineBusyTicks();
  const b0 = process.cpuUsage();
  return {
    stop() {
      const c1 = ticks();
      const sysS = (sys() - s0) / CLK_TCK;
      const m1 = machineBusyTicks();
      const bench = process.cpuUsage(b0);
      let dovecot = 0;
      for (const [p, ticks] of dovecotImapTicks(dovecotPid)) dovecot += ticks - (d0.get(p) ?? 0);
      const mainS = (c1.main - c0.main) / CLK_TCK;
      const othersS = (c1.others - c0.others) / CLK_TCK;
      const dovecotS = dovecot / CLK_TCK;
      const benchS = (bench.user + bench.system) / 1e6;
      const backgroundS = Math.max(0, (m1 - m0) / CLK_TCK - mainS - othersS - dovecotS - benchS);
      return { mainS, othersS, sysS, dovecotS, backgroundS, benchS, wallS: (now() - t0) / 1000 };
    },
  };
}

/**
 * The machine is shared (other engineers' tests, CI): before each measurement, wait up to --quiet-wait seconds
 * (default 45) for a second in which the whole machine is less than 30% of one core busy. Returns the seconds waited.
 */
