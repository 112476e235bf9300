// A process's spool folder (issue 18): private, its own, removed on close; a start removes what dead processes of this
// host left and never a live process's folder nor another host's.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSpoolFolder } from '../../src/storage/spool-folder.js';

describe('openSpoolFolder', () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'cnv-spool-dir-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it("is the process's own private folder under the data dir, removed with what is in it on close", async () => {
    const spool = openSpoolFolder(dataDir);
    expect(path.dirname(spool.dir)).toBe(path.join(dataDir, 'spool'));
    expect(path.basename(spool.dir)).toMatch(new RegExp(`-${process.pid}-[0-9a-f]{8}$`));
    expect((statSync(spool.dir).mode & 0o777).toString(8)).toBe('700');
    mkdirSync(path.join(spool.dir, 'download'));
    writeFileSync(path.join(spool.dir, 'download', 'part'), 'bytes');
    await spool.close();
    expect(existsSync(spool.dir)).toBe(false);
  });

  it("a start removes a dead process's leftovers of this host, never a live one's nor another host's", async () => {
    const parent = path.join(dataDir, 'spool');
    mkdirSync(parent, { recursive: true });
    const host = os.hostname().replace(/[^A-Za-z0-9.]/g, '_');
    // A pid that was alive and is no more: a child that has exited.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    const leftovers = {
      dead: `${host}-${dead}-deadbeef`,
      live: `${host}-${process.ppid}-cafebabe`,
      otherHost: `another-host.example-${dead}-0badf00d`,
      notOurs: 'notes.txt',
    };
    for (const name of Object.values(leftovers)) mkdirSync(path.join(parent, name));
    writeFileSync(path.join(parent, leftovers.dead, 'half-download'), 'x');
    const spool = openSpoolFolder(dataDir);
    expect(readdirSync(parent).sort()).toEqual(
      [leftovers.live, leftovers.otherHost, leftovers.notOurs, path.basename(spool.dir)].sort(),
    );
    await spool.close();
  });
});
