// Runs a throw-away Dovecot 2.3 (IMAP + SMTP submission relaying to an in-process SMTP sink) from a
// generated config in a short temp dir, and gives tests per-user helpers that need only the
// serializable DovecotInfo, so they work from vitest worker processes (files + doveadm, no RPC).

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, open, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePorts } from './free-port.js';
import {
  killGroupSync,
  pollUntil,
  rmQuietly,
  run,
  terminateGroup,
  type RunOptions,
  type RunResult,
} from './process.js';
import {
  readSinkMessages,
  startSmtpSink,
  waitForSinkMessage,
  type SinkMessage,
  type SinkPredicate,
  type SmtpSink,
} from './smtp-sink.js';

const DOVECOT = '/usr/sbin/dovecot';
const DOVEADM = '/usr/bin/doveadm';
// Debian's nobody/nogroup. Dovecot refuses mail access as root, so mail is owned by these.
const MAIL_UID = 65534;
const MAIL_GID = 65534;
// Unix sockets live under base_dir (deepest: run/login/imap-urlauth, ~30 bytes) and sun_path is 108 bytes.
const MAX_DIR_LENGTH = 60;

/** Everything a worker process needs to use the running server. JSON-serializable. */
export interface DovecotInfo {
  host: string;
  imapPort: number;
  submissionPort: number;
  /** PID of the Dovecot master (from base_dir/master.pid). */
  pid: number;
  dir: string;
  configPath: string;
  logPath: string;
  /** One passwd-file per user: `<passwdDir>/<user>` holding `user:{PLAIN}password`. */
  passwdDir: string;
  /** Users' homes: `<mailDir>/<user>/Maildir`. */
  mailDir: string;
  sinkHost: string;
  sinkPort: number;
  /** Where the SMTP sink stores each relayed message (`<id>.json` + `<id>.eml`). */
  sinkDir: string;
}

export interface Credentials {
  user: string;
  password: string;
}

export type MailFlag = '\\Seen' | '\\Answered' | '\\Flagged' | '\\Draft' | '\\Deleted';

export interface FillOptions {
  /** INTERNALDATE of each message (same length as the messages). Default: now. */
  dates?: Date[];
  /** Flags set on every message written. Default: none (all unseen). */
  flags?: MailFlag[];
}

export interface DovecotClientSide {
  readonly info: DovecotInfo;
  readonly host: string;
  readonly imapPort: number;
  readonly submissionPort: number;
  /** Creates a fresh unique user (`u<hex>@example.test`, random password) unless given one. */
  addUser(creds?: Partial<Credentials>): Promise<Credentials>;
  /**
   * Replaces the user's password (or XOAUTH2/OAUTHBEARER token: Dovecot 2.3 checks tokens against the
   * passdb like passwords). Resolves once Dovecot accepts the new one and so refuses the old one.
   * Sessions already logged in stay: call kick() for that.
   */
  setPassword(user: string, password: string): Promise<void>;
  /** Asks Dovecot's auth process directly; true if the user/password pair is accepted. */
  authTest(user: string, password: string): Promise<boolean>;
  /** Disconnects every session of the user (doveadm kick). Resolves true if any was kicked. */
  kick(user: string): Promise<boolean>;
  /** The user's logged-in sessions right now (doveadm who -1): one line per connection, e.g. "imap 1234 127.0.0.1". */
  who(user: string): Promise<string[]>;
  /**
   * Fast bulk load: writes Maildir files straight into cur/ of `folder` (created if needed), with the
   * file mtime as INTERNALDATE, then lets Dovecot index them. UIDs follow the array order. Don't use it
   * to rewrite a mailbox a client has selected; adding is fine. Resolves with the folder's message count.
   */
  fillMailbox(
    user: string,
    folder: string,
    messages: Array<string | Buffer>,
    opts?: FillOptions,
  ): Promise<{ messages: number }>;
  /** Delivers one message through Dovecot's storage (doveadm save), which IDLE clients are notified of. */
  appendAsDelivered(user: string, raw: string | Buffer, opts?: { folder?: string }): Promise<void>;
  /** Message count of a folder as Dovecot sees it. */
  messageCount(user: string, folder: string): Promise<number>;
  /** Runs doveadm against this server (`doveadm -c <config> ...args`). */
  doveadm(args: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** Options for `new ImapFlow(...)`: plain IMAP on loopback, no TLS, quiet logger. */
  imapOptions(creds: Credentials): {
    host: string;
    port: number;
    secure: false;
    auth: { user: string; pass: string };
    logger: false;
  };
  /** Options for nodemailer's `createTransport(...)` against the submission port. */
  smtpOptions(creds: Credentials): {
    host: string;
    port: number;
    secure: false;
    ignoreTLS: true;
    auth: { user: string; pass: string };
  };
  /** Everything the SMTP sink received so far (all tests share it: filter by recipient/subject). */
  sinkMessages(): Promise<SinkMessage[]>;
  waitForSinkMessage(predicate: SinkPredicate, timeoutMs?: number): Promise<SinkMessage>;
}

export interface DovecotServer extends DovecotClientSide {
  readonly pid: number;
  /** The in-process SMTP sink the submission service relays to. */
  readonly sink: SmtpSink;
  /** Stops Dovecot (SIGTERM to the master, waits for its whole process group), the sink, removes the dir. */
  stop(): Promise<void>;
}

// Dovecot's default auth_username_chars. No '/', so a user name is also a safe passwd-file name.
const USER_RE = /^[A-Za-z0-9@._-]+$/;

function checkUser(user: string): void {
  if (!USER_RE.test(user) || user.startsWith('.'))
    throw new Error(`unsupported test user name: ${JSON.stringify(user)}`);
}

function checkPassword(password: string): void {
  // The passwd-file format ends the password field at ':' and the entry at a newline.
  if (password === '' || /[:\r\n]/.test(password))
    throw new Error('test passwords must be non-empty, without ":" or newlines');
}

function renderConfig(o: {
  dir: string;
  instance: string;
  imapPort: number;
  submissionPort: number;
  sinkPort: number;
}): string {
  const specialUse = ['Sent', 'Drafts', 'Trash', 'Junk', 'Archive']
    .map((name) => `  mailbox ${name} {\n    special_use = \\${name}\n    auto = subscribe\n  }`)
    .join('\n');
  return `# Generated by test/servers/dovecot.ts for one test run (Dovecot 2.3 syntax).
instance_name = ${o.instance}
base_dir = ${o.dir}/run
state_dir = ${o.dir}/state
log_path = ${o.dir}/dovecot.log
listen = 127.0.0.1
protocols = imap submission
hostname = conversa.test
postmaster_address = postmaster@example.test

# Loopback only: with ssl = yes imapflow would STARTTLS and fail on a self-signed cert.
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2 oauthbearer
auth_failure_delay = 0
auth_cache_size = 0
auth_verbose = yes

# One passwd-file per user (%u in the path): workers add users and change passwords concurrently
# without read-modify-write races on a shared file. Dovecot re-reads a file when its mtime changes;
# a missing file is simply an unknown user.
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${o.dir}/passwd/%u
}
userdb {
  driver = static
  args = home=${o.dir}/mail/%u allow_all_users=yes
}

mail_location = maildir:~/Maildir
mail_fsync = never
# We run as root, and Dovecot refuses mail access as root.
mail_uid = nobody
mail_gid = nogroup
first_valid_uid = 65534

namespace inbox {
  inbox = yes
  separator = /
${specialUse}
}

protocol imap {
  # The default (10) breaks parallel tests that all connect from 127.0.0.1.
  mail_max_userip_connections = 200
  # What each session fetched, written at logout: proves the sync engine never downloads the bodies of mail
  # it does not keep (fetch_body_count counts BODY[]/BINARY[] fetches).
  imap_logout_format = in=%i out=%o fetch_hdr_count=%{fetch_hdr_count} fetch_body_count=%{fetch_body_count} fetch_body_bytes=%{fetch_body_bytes}
}

submission_relay_host = 127.0.0.1
submission_relay_port = ${o.sinkPort}
submission_relay_ssl = no

# Auth penalty off: after a failed login anvil makes the auth process hold back every later login
# from the same IP (all tests share 127.0.0.1) for 4 s, doubling up to 15 s; login_trusted_networks
# does not exempt anyone in 2.3. The auth process finds anvil's penalty socket by this name, and with
# the socket renamed it quietly runs without penalties.
service anvil {
  unix_listener anvil-auth-penalty {
    path = anvil-auth-penalty-disabled
  }
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${o.imapPort}
  }
  inet_listener imaps {
    port = 0
  }
}
service submission-login {
  inet_listener submission {
    address = 127.0.0.1
    port = ${o.submissionPort}
  }
}
`;
}

/**
 * Connects to host:port and resolves true once a line matching `expect` arrives. Dovecot's
 * imap-login first says "Waiting for authentication process" while auth starts up; only the
 * "... ready." greeting means logins will work.
 */
function greets(host: string, port: number, expect: RegExp, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let text = '';
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.split(/\r?\n/).some((line) => expect.test(line))) done(true);
    });
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
  });
}

/** Starts Dovecot and the SMTP sink; resolves once IMAP and submission greet. */
export async function startDovecot(opts: { dir?: string } = {}): Promise<DovecotServer> {
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? (await mkdtemp('/tmp/cnv-'));
  if (dir.length > MAX_DIR_LENGTH || !/^\/[\w./-]+$/.test(dir)) {
    throw new Error(`Dovecot dir must be an absolute path of [\\w./-], at most ${MAX_DIR_LENGTH} bytes: ${dir}`);
  }
  let sink: SmtpSink | undefined;
  let pid: number | undefined;
  try {
    await mkdir(dir, { recursive: true });
    // mkdtemp makes 0700 root dirs; Dovecot's auth process (user dovecot) must reach the passwd files.
    await chmod(dir, 0o755);
    const passwdDir = join(dir, 'passwd');
    const mailDir = join(dir, 'mail');
    await mkdir(passwdDir, { recursive: true, mode: 0o755 });
    await mkdir(mailDir, { recursive: true, mode: 0o755 });
    // Homes are created on first use by processes running as nobody.
    await chown(mailDir, MAIL_UID, MAIL_GID);

    sink = await startSmtpSink(join(dir, 'sink'));
    const [imapPort, submissionPort] = await freePorts(2);
    if (imapPort === undefined || submissionPort === undefined) throw new Error('no free ports');
    const configPath = join(dir, 'dovecot.conf');
    const instance = `cnv-${dir.split('/').pop() ?? 'x'}`;
    await writeFile(configPath, renderConfig({ dir, instance, imapPort, submissionPort, sinkPort: sink.port }));

    // -F keeps the master in the foreground as our child: we see it exit (no zombie left for PID 1,
    // which reaps late here). detached puts it and its helpers in their own process group; its
    // stdout/stderr go to a file, never to our stdout (a daemon holding a CI pipe hangs the job).
    const errPath = join(dir, 'dovecot.stderr');
    const errFile = await open(errPath, 'a');
    const child = spawn(DOVECOT, ['-F', '-c', configPath], {
      detached: true,
      stdio: ['ignore', errFile.fd, errFile.fd],
    });
    await errFile.close();
    child.unref();
    let exit: string | undefined;
    child.once('exit', (code, signal) => (exit = `exited (${signal ?? `code ${String(code)}`})`));
    child.once('error', (error) => (exit = `failed to start: ${error.message}`));
    if (child.pid === undefined) {
      await new Promise((resolve) => setImmediate(resolve));
      throw new Error(`dovecot ${exit ?? 'did not start'}`);
    }
    pid = child.pid;

    const host = '127.0.0.1';
    const whyNot = async (): Promise<string> => {
      const stderr = await readFile(errPath, 'utf8').catch(() => '');
      const log = await readFile(join(dir, 'dovecot.log'), 'utf8').catch(() => '');
      return `${stderr}\n${log.split('\n').slice(-15).join('\n')}`;
    };
    const ready = async (port: number, expect: RegExp): Promise<true | undefined> => {
      if (exit !== undefined) throw Object.assign(new Error(`dovecot ${exit}: ${await whyNot()}`), { fatal: true });
      return (await greets(host, port, expect)) ? true : undefined;
    };
    try {
      await pollUntil('the IMAP greeting', () => ready(imapPort, /^\* OK .*ready/i), { timeoutMs: 15_000 });
      await pollUntil('the submission greeting', () => ready(submissionPort, /^220 /), { timeoutMs: 15_000 });
    } catch (error) {
      if ((error as { fatal?: unknown }).fatal === true) throw error;
      throw new Error(`${(error as Error).message}\n${await whyNot()}`, { cause: error });
    }
    const masterPid = Number((await readFile(join(dir, 'run', 'master.pid'), 'utf8')).trim());
    if (masterPid !== pid) throw new Error(`master.pid says ${masterPid}, spawned ${pid}`);

    const info: DovecotInfo = {
      host,
      imapPort,
      submissionPort,
      pid: masterPid,
      dir,
      configPath,
      logPath: join(dir, 'dovecot.log'),
      passwdDir,
      mailDir,
      sinkHost: sink.host,
      sinkPort: sink.port,
      sinkDir: sink.dir,
    };

    // If the process exits without teardown (vitest on SIGINT/SIGTERM exits without running globalSetup
    // teardowns), don't leave Dovecot or its dir behind. Only synchronous calls work in an 'exit' hook.
    const onExit = (): void => {
      killGroupSync(masterPid);
      if (ownDir) rmQuietly(dir);
    };
    process.once('exit', onExit);
    const theSink = sink;
    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> =>
      (stopping ??= (async () => {
        process.off('exit', onExit);
        await terminateGroup(masterPid);
        await theSink.close();
        if (ownDir) await rm(dir, { recursive: true, force: true });
      })());

    return { ...dovecotFromInfo(info), pid: masterPid, sink: theSink, stop };
  } catch (error) {
    // Half-started: stop what is running, then report the original error.
    if (pid !== undefined) await terminateGroup(pid).catch(() => undefined);
    await sink?.close().catch(() => undefined);
    if (ownDir) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    throw error;
  }
}

const FLAG_LETTERS: Record<MailFlag, string> = {
  '\\Draft': 'D',
  '\\Flagged': 'F',
  '\\Answered': 'R',
  '\\Seen': 'S',
  '\\Deleted': 'T',
};

// Maildir file names start with "<secs>.M<usecs>"; Dovecot gives new files UIDs in that order. A
// strictly increasing microsecond stamp keeps UIDs in array order, also across fillMailbox calls.
let lastStampUs = 0;
let fileSeq = 0;

function nextStamp(): { secs: number; usecs: number } {
  lastStampUs = Math.max(Date.now() * 1000, lastStampUs + 1);
  return { secs: Math.floor(lastStampUs / 1e6), usecs: lastStampUs % 1e6 };
}

/** Virtual size (W=): the size with every bare LF counted as CRLF, as IMAP clients see it. */
function virtualSize(raw: Buffer): number {
  let size = raw.length;
  for (let i = 0; i < raw.length; i++) if (raw[i] === 0x0a && (i === 0 || raw[i - 1] !== 0x0d)) size++;
  return size;
}

async function inBatches<T>(
  items: readonly T[],
  size: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  for (let start = 0; start < items.length; start += size) {
    await Promise.all(items.slice(start, start + size).map((item, i) => fn(item, start + i)));
  }
}

/** Builds the per-test helpers from the injected info; no state besides the files Dovecot reads. */
export function dovecotFromInfo(info: DovecotInfo): DovecotClientSide {
  const doveadm = (args: readonly string[], opts?: RunOptions): Promise<RunResult> =>
    run(DOVEADM, ['-c', info.configPath, ...args], opts);

  const passwdFile = (user: string): string => {
    checkUser(user);
    return join(info.passwdDir, user);
  };

  /** Writes the user's passwd-file atomically (tmp + rename) so Dovecot never reads half a line. */
  const writePasswd = async (user: string, password: string, mtimeSecs?: number): Promise<void> => {
    checkPassword(password);
    const file = passwdFile(user);
    const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, `${user}:{PLAIN}${password}\n`, { mode: 0o644 });
    if (mtimeSecs !== undefined) await utimes(tmp, mtimeSecs, mtimeSecs);
    await rename(tmp, file);
  };

  const authTest = async (user: string, password: string): Promise<boolean> => {
    checkUser(user);
    // 77 (EX_NOPERM) is doveadm's "auth failed"; anything else is a real error.
    // '--' ends doveadm's options: a password that starts with '-' (base64url can) is not read as one.
    const result = await doveadm(['auth', 'test', '-x', 'service=imap', '--', user, password], { okCodes: [0, 77] });
    return result.code === 0;
  };

  const messageCount = async (user: string, folder: string): Promise<number> => {
    checkUser(user);
    const { stdout } = await doveadm(['mailbox', 'status', '-u', user, 'messages', folder]);
    const match = /messages=(\d+)/.exec(stdout);
    if (match?.[1] === undefined) throw new Error(`unexpected doveadm mailbox status output: ${stdout}`);
    return Number(match[1]);
  };

  /** Creates the folder through Dovecot (right layout, owner, name encoding) and returns its Maildir path. */
  const ensureMailbox = async (user: string, folder: string): Promise<string> => {
    if (folder.toUpperCase() === 'INBOX') {
      // Opening INBOX creates the user's home and Maildir as the mail user.
      await messageCount(user, 'INBOX');
    } else {
      const created = await doveadm(['mailbox', 'create', '-u', user, folder], { okCodes: [0, 65] });
      if (created.code !== 0 && !/already exists/i.test(created.stderr)) {
        throw new Error(`doveadm mailbox create ${folder} failed: ${created.stderr}`);
      }
    }
    const path = (await doveadm(['mailbox', 'path', '-u', user, folder])).stdout.trim();
    for (const sub of ['cur', 'new', 'tmp']) {
      const subdir = join(path, sub);
      const exists = await stat(subdir).then(
        () => true,
        () => false,
      );
      if (!exists) {
        await mkdir(subdir, { recursive: true, mode: 0o700 });
        await chown(subdir, MAIL_UID, MAIL_GID);
      }
    }
    return path;
  };

  return {
    info,
    host: info.host,
    imapPort: info.imapPort,
    submissionPort: info.submissionPort,

    async addUser(creds = {}) {
      const user = creds.user ?? `u${randomBytes(6).toString('hex')}@example.test`;
      const password = creds.password ?? randomBytes(12).toString('base64url');
      await writePasswd(user, password);
      return { user, password };
    },

    async setPassword(user, password) {
      const before = await stat(passwdFile(user));
      // Dovecot re-reads a passwd-file only when its mtime (whole seconds) or size changes, and stats
      // it at most once a second: move the mtime past both the old one and now, then wait until the
      // auth process really answers with the new password.
      const mtimeSecs = Math.max(Math.floor(before.mtimeMs / 1000), Math.floor(Date.now() / 1000)) + 1;
      await writePasswd(user, password, mtimeSecs);
      await pollUntil(
        `the new password of ${user} to be accepted`,
        async () => ((await authTest(user, password)) ? true : undefined),
        {
          timeoutMs: 10_000,
          intervalMs: 100,
        },
      );
    },

    authTest,

    async who(user) {
      checkUser(user);
      const result = await doveadm(['who', '-1', user], { okCodes: [0, 68] });
      // A header line, then "username proto pid ip ..." per connection.
      return result.stdout
        .split('\n')
        .map((line) => line.trim().split(/\s+/))
        .filter((cols) => cols[0] === user)
        .map((cols) => cols.slice(1).join(' '));
    },

    async kick(user) {
      checkUser(user);
      // 68 = "No users kicked".
      const result = await doveadm(['kick', user], { okCodes: [0, 68] });
      return result.code === 0;
    },

    async fillMailbox(user, folder, messages, opts = {}) {
      checkUser(user);
      const { dates, flags = [] } = opts;
      if (dates !== undefined && dates.length !== messages.length) {
        throw new Error(`fillMailbox: ${messages.length} messages but ${dates.length} dates`);
      }
      const path = await ensureMailbox(user, folder);
      const letters = [...new Set(flags.map((f) => FLAG_LETTERS[f]))].sort().join('');
      const now = new Date();
      await inBatches(messages, 64, async (message, i) => {
        const raw = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
        const { secs, usecs } = nextStamp();
        // <secs>.M<usecs>P<pid>Q<n>.<host>,S=<size>,W=<vsize>:2,<flags>: S= and W= let Dovecot skip
        // reading the file for sizes, so they must be exact.
        const base = `${secs}.M${usecs}P${process.pid}Q${fileSeq++}.conversa,S=${raw.length},W=${virtualSize(raw)}`;
        const tmp = join(path, 'tmp', base);
        await writeFile(tmp, raw, { mode: 0o600 });
        await chown(tmp, MAIL_UID, MAIL_GID);
        const date = dates?.[i] ?? now;
        // Dovecot takes a Maildir message's INTERNALDATE from the file's mtime.
        await utimes(tmp, date, date);
        // Into cur/ by rename: Dovecot never sees a partly written file.
        await rename(tmp, join(path, 'cur', `${base}:2,${letters}`));
      });
      // Makes Dovecot sync the folder now (assign UIDs, build the index) rather than on first SELECT.
      return { messages: await messageCount(user, folder) };
    },

    async appendAsDelivered(user, raw, opts = {}) {
      checkUser(user);
      // doveadm save goes through Dovecot's storage layer like LDA delivery: it appends to the
      // mailbox's transaction log, whose inotify watch wakes IDLE sessions (proved in the harness test).
      await doveadm(['save', '-u', user, '-m', opts.folder ?? 'INBOX'], { input: raw });
    },

    messageCount,
    doveadm,

    imapOptions: (creds) => ({
      host: info.host,
      port: info.imapPort,
      secure: false,
      auth: { user: creds.user, pass: creds.password },
      logger: false,
    }),

    smtpOptions: (creds) => ({
      host: info.host,
      port: info.submissionPort,
      secure: false,
      ignoreTLS: true,
      auth: { user: creds.user, pass: creds.password },
    }),

    sinkMessages: () => readSinkMessages(info.sinkDir),
    waitForSinkMessage: (predicate, timeoutMs) => waitForSinkMessage(info, predicate, timeoutMs),
  };
}
