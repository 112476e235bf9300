// Large request bodies (issue 18, memory bounded by bytes): the server's peak memory while many senders post a
// send's worth of JSON at once (POST /api/messages takes attachments as base64, up to ~42 MB a request).
//
// Two kinds of sender, each against a fresh `conversa serve` (so its VmHWM is this load's alone):
//   strangers  no credentials: refused from the headers, before the body is read;
//   members    a user's API token and the id of no mailbox: each body is read, parsed and validated whole, then
//              refused when the mailbox is looked up (404) — the part of a send the body budget governs that does
//              not need a mail server (a real send then decodes and composes within the same hold).
// Every sender posts at once; the budget (CONVERSA_UPLOADS_IN_FLIGHT_MB) lets the first few in and holds the others
// back unread, answering SERVER_BUSY (503) to one that waited over 30 s.
//
// Run from the repo root after `npm run build`:
//   npx tsx bench/large-bodies.ts                           8 senders × 32 MB (24 MB attached), the default budget
//   npx tsx bench/large-bodies.ts --budget-mb 100000         the same with a budget too large to hold anyone back
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '../test/servers/free-port.js';
import { run } from '../test/servers/process.js';
import { childPids, cleanups, guardProcess, runCleanups } from './support/cleanup-stack.js';
import { fmt, log, mb, now } from './support/format.js';
import { procStatus } from './support/proc-stats.js';
import { waitUntil } from './support/wait-until.js';

const { values: opts } = parseArgs({
  options: {
    senders: { type: 'string', default: '8' },
    mb: { type: 'string', default: '32' },
    'budget-mb': { type: 'string' },
    'max-minutes': { type: 'string', default: '10' },
  },
});

const SENDERS = Number(opts.senders);
const BODY_MB = Number(opts.mb);
const CLI = path.join(process.cwd(), 'dist', 'src', 'cli.js');
const OWNER = 'owner@bench.test';
const hardLimit = guardProcess({ maxMinutes: opts['max-minutes']!, stopping: 'servers' });

interface Server {
  url: string;
  pid: number;
  token: string;
  stop(): Promise<void>;
}

async function startServer(root: string, name: string): Promise<Server> {
  const dataDir = path.join(root, name);
  const env = {
    ...process.env,
    CONVERSA_DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    BCC_SMTP_PORT: '0',
    ...(opts['budget-mb'] ? { CONVERSA_UPLOADS_IN_FLIGHT_MB: opts['budget-mb'] } : {}),
  };
  await run(process.execPath, [CLI, 'user', 'add', '--email', OWNER, '--password', 'bench owner password'], { env });
  const token = (await run(process.execPath, [CLI, 'token', 'create', '--email', OWNER], { env })).stdout.trim();
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env: { ...env, PORT: String(port), HOST: '127.0.0.1', CONVERSA_SERVE_BACKGROUND: 'false' },
    stdio: 'ignore',
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not spawn conversa serve');
  childPids.add(pid);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    childPids.delete(pid);
  };
  cleanups.push({ what: `conversa ${name} (pid ${pid})`, fn: stop });
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(`conversa ${name} to serve`, 30_000, 100, async () => {
    try {
      return (await fetch(`${url}/api/health`)).ok ? true : undefined;
    } catch {
      return undefined;
    }
  });
  return { url, pid, token, stop };
}

/** A send's JSON with one attachment of about `megabytes` of base64. */
function sendBody(megabytes: number): Buffer {
  const base64 = 'QUJD'.repeat(Math.floor((megabytes * 1024 * 1024) / 4));
  return Buffer.from(
    JSON.stringify({
      // An id of no mailbox: the body passes validation and is refused when the mailbox is looked up.
      accountId: randomUUID(),
      to: ['someone@example.test'],
      subject: 'Proposal',
      text: 'See the attachment.',
      attachments: [{ filename: 'proposal.pdf', contentType: 'application/pdf', contentBase64: base64 }],
    }),
  );
}

async function load(server: Server, body: Buffer, token: string | null) {
  const idle = procStatus(server.pid)!;
  const t0 = now();
  const statuses = await Promise.all(
    Array.from({ length: SENDERS }, async () => {
      const res = await fetch(`${server.url}/api/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body,
      });
      await res.arrayBuffer();
      return res.status;
    }),
  );
  const seconds = (now() - t0) / 1000;
  const after = procStatus(server.pid)!;
  const counts = new Map<number, number>();
  for (const s of statuses) counts.set(s, (counts.get(s) ?? 0) + 1);
  return { idleKb: idle.rssKb, hwmKb: after.hwmKb, seconds, counts };
}

async function main(): Promise<void> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'cnv-bodies-'));
  cleanups.push({ what: `remove ${root}`, fn: async () => rmSync(root, { recursive: true, force: true }) });
  const body = sendBody(BODY_MB);
  log(
    `${SENDERS} senders × ${fmt(body.length / 1024 / 1024, 1)} MB of JSON at once; budget ` +
      `${opts['budget-mb'] ? `${opts['budget-mb']} MB` : 'the default'}`,
  );
  for (const who of ['strangers', 'members'] as const) {
    const server = await startServer(root, who);
    const r = await load(server, body, who === 'members' ? server.token : null);
    await server.stop();
    const answers = [...r.counts].map(([status, n]) => `${n} × ${status}`).join(', ');
    log(
      `${who}: server RSS idle ${mb(r.idleKb)}, peak (VmHWM) ${mb(r.hwmKb)}; all answered in ${fmt(r.seconds, 2)} s ` +
        `(${answers})`,
    );
  }
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(async () => {
    clearTimeout(hardLimit);
    await runCleanups();
  });
