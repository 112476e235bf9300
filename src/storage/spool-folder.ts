// A process's own folder for big downloads on their way into a blob store that is not files (PostgreSQL, issue 18;
// mail/mime/spooled-downloads.ts). Under the private data dir rather than the system's temp folder, which may be
// memory (tmpfs) and is shared with other users. Named after the host and the process, so that a start removes what
// a dead process of this host left behind (a crash), and never a live process's folder, nor another host's on a
// shared volume.
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';

export interface SpoolFolder {
  dir: string;
  /** Removes the folder and whatever is still in it. */
  close(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: a process of another user holds the pid; it is alive, and not ours to judge.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `<dataDir>/spool/<host>-<pid>-<random>`, made private; leftovers of dead processes of this host removed first. */
export function openSpoolFolder(dataDir: string): SpoolFolder {
  const parent = path.join(dataDir, 'spool');
  mkdirSync(parent, { recursive: true, mode: 0o700 });
  const host = os.hostname().replace(/[^A-Za-z0-9.]/g, '_');
  const prefix = `${host}-`;
  for (const name of readdirSync(parent)) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !alive(pid))
      rmSync(path.join(parent, name), { recursive: true, force: true });
  }
  const dir = path.join(parent, `${prefix}${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(dir, { mode: 0o700 });
  return { dir, close: () => rm(dir, { recursive: true, force: true }) };
}
