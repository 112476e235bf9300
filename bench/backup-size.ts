// Backup figures (issue 19): the time and size of `conversa backup` (and of `conversa restore`) for a SQLite data dir of
// N messages (default 100,000), made quickly by direct inserts rather than a sync: one mailbox, 2,000 contacts, every
// message with a raw blob of ~4 KB (real-sized headers, a 0.5–4 KB text body, also stored as text_body and snippet),
// 5% with a 4–30 KB attachment blob, locations, participants, holders and contact links as the intake writes them.
// The built CLI is timed (`npx tsc -p tsconfig.build.json` first), idle (no sync running).
//
//   npx tsx bench/backup-size.ts [--messages 100000] [--keep]
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import SqliteDatabase from 'better-sqlite3';
import { SecretBox } from '../src/core/secret-box.js';
import { sealCredentials } from '../src/mail/accounts/account-credentials.js';
import { createBlobStore } from '../src/storage/blob-store.js';
import { migrateToLatest, openStorage } from '../src/storage/database.js';
import { newId } from '../src/storage/ids.js';

const args = process.argv.slice(2);
const option = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const MESSAGES = Number(option('--messages') ?? 100_000);
const CONTACTS = 2_000;
const KEY = 'd4'.repeat(32);
const CLI = path.resolve('dist/src/cli.js');

/** A small seeded generator: the same data set every run. */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2_147_483_648;
    return s / 2_147_483_648;
  };
}

const WORDS = 'the order invoice meeting proposal price delivery thanks regards please next week contract team'.split(
  ' ',
);

function text(rand: () => number, bytes: number): string {
  const parts: string[] = [];
  let length = 0;
  while (length < bytes) {
    const word = WORDS[Math.floor(rand() * WORDS.length)]!;
    parts.push(word);
    length += word.length + 1;
  }
  return parts.join(' ');
}

function duSize(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir]).toString().split('\t')[0]) || 0;
}

function mb(bytes: number): string {
  return `${(bytes / 1_048_576).toFixed(0)} MB`;
}

async function main() {
  if (!fs.existsSync(CLI)) throw new Error('run `npx tsc -p tsconfig.build.json` first');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cnv-bench-backup-'));
  const dataDir = path.join(root, 'data');
  try {
    const storage = openStorage({ dataDir, databaseUrl: null });
    await migrateToLatest(storage.db);
    await storage.close();
    const blobs = createBlobStore(path.join(dataDir, 'blobs'));
    const db = new SqliteDatabase(path.join(dataDir, 'conversa.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    const rand = random(19);
    const now = Date.now();
    const orgId = newId();
    const userId = newId();
    const accountId = newId();
    const folderId = newId();
    db.prepare(`INSERT INTO orgs (id, name, plan, created_at, updated_at) VALUES (?, 'Bench', 'pro', ?, ?)`).run(
      orgId,
      now,
      now,
    );
    db.prepare(
      `INSERT INTO users (id, org_id, email, password_hash, is_admin, created_at, updated_at) VALUES (?, ?, 'owner@bench.test', 'x', 1, ?, ?)`,
    ).run(userId, orgId, now, now);
    const sealed = sealCredentials(new SecretBox(Buffer.from(KEY, 'hex')), accountId, {
      kind: 'password',
      password: 'p',
    });
    db.prepare(
      `INSERT INTO email_accounts (id, org_id, user_id, email, provider, auth_kind, sync_mode, status, history_days, imap_host,
         imap_port, imap_secure, smtp_host, smtp_port, smtp_secure, username, credentials_enc, bcc_token, created_at, updated_at)
       VALUES (?, ?, ?, 'owner@bench.test', 'other', 'password', 'two-way', 'active', 90, 'imap.bench.test', 993, 1,
         'smtp.bench.test', 465, 1, 'owner', ?, ?, ?, ?)`,
    ).run(accountId, orgId, userId, sealed, newId(), now, now);
    db.prepare(
      `INSERT INTO mail_folders (id, account_id, path, role, uid_validity, last_seen_uid, first_sync_done, created_at, updated_at)
       VALUES (?, ?, 'INBOX', 'inbox', 1, ?, 1, ?, ?)`,
    ).run(folderId, accountId, MESSAGES, now, now);
    const contactIds: string[] = [];
    const insertContact = db.prepare(
      `INSERT INTO contacts (id, org_id, first_name, source, search_text, created_at, updated_at) VALUES (?, ?, ?, 'manual', ?, ?, ?)`,
    );
    const insertAddress = db.prepare(
      `INSERT INTO contact_addresses (id, org_id, contact_id, address, position, created_at) VALUES (?, ?, ?, ?, 0, ?)`,
    );
    db.transaction(() => {
      for (let c = 0; c < CONTACTS; c++) {
        const id = newId();
        contactIds.push(id);
        insertContact.run(id, orgId, `Customer ${c}`, `customer ${c} customer${c}@client.test`, now, now);
        insertAddress.run(newId(), orgId, id, `customer${c}@client.test`, now);
      }
    })();

    const insertBlob = db.prepare(`INSERT OR IGNORE INTO blobs (sha256, size, created_at) VALUES (?, ?, ?)`);
    const insertMessage = db.prepare(
      `INSERT INTO messages (id, org_id, dedupe_key, message_id_header, subject, from_address, date, direction, source,
         snippet, text_body, has_attachments, size, raw_blob_sha256, owner_user_id, shared, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 'incoming', 'sync', ?, ?, ?, ?, ?, ?, 1, ?)`,
    );
    const insertLocation = db.prepare(
      `INSERT INTO message_locations (id, message_id, account_id, folder_id, uid_validity, uid, seen, created_at) VALUES (?, ?, ?, ?, 1, ?, 1, ?)`,
    );
    const insertParticipant = db.prepare(
      `INSERT INTO message_participants (id, message_id, role, address, position) VALUES (?, ?, ?, ?, 0)`,
    );
    const insertLink = db.prepare(`INSERT INTO message_contacts (message_id, contact_id) VALUES (?, ?)`);
    const insertHolder = db.prepare(
      `INSERT INTO message_holders (id, message_id, account_id, user_id, shared, direction, created_at) VALUES (?, ?, ?, ?, 1, 'incoming', ?)`,
    );
    const insertAttachment = db.prepare(
      `INSERT INTO attachments (id, message_id, blob_sha256, filename, content_type, size, inline, position) VALUES (?, ?, ?, ?, 'application/pdf', ?, 0, 0)`,
    );
    const filledAt = performance.now();
    const BATCH = 2_000;
    for (let start = 0; start < MESSAGES; start += BATCH) {
      const rows: Array<{
        i: number;
        c: number;
        body: string;
        messageId: string;
        date: number;
        raw: Buffer;
        attachment: Buffer | null;
      }> = [];
      for (let i = start; i < Math.min(MESSAGES, start + BATCH); i++) {
        const c = i % CONTACTS;
        const body = text(rand, 500 + Math.floor(rand() * 3_500));
        const messageId = `<${i}.${createHash('md5').update(String(i)).digest('hex')}@client.test>`;
        const date = now - i * 60_000;
        const raw = Buffer.from(
          [
            `Received: from mx${i % 7}.client.test (mx.client.test [192.0.2.${i % 250}]) by mx.bench.test with ESMTPS id ${i}`,
            `Received: from [10.0.0.${i % 250}] by mx${i % 7}.client.test with ESMTPSA; ${new Date(date).toUTCString()}`,
            `DKIM-Signature: v=1; a=rsa-sha256; d=client.test; s=s1; h=from:to:subject:date; bh=${'A'.repeat(44)}; b=${'B'.repeat(340)}`,
            `From: Customer ${c} <customer${c}@client.test>`,
            'To: owner@bench.test',
            `Subject: order ${i}`,
            `Date: ${new Date(date).toUTCString()}`,
            `Message-ID: ${messageId}`,
            'X-Mailer: Bench Mail 1.0',
            'MIME-Version: 1.0',
            'Content-Type: text/plain; charset=utf-8',
            '',
            body,
            '',
          ].join('\r\n'),
        );
        const attachment =
          i % 20 === 0 ? Buffer.from(`%PDF-1.4 ${i} ${text(rand, 4_000 + Math.floor(rand() * 26_000))}`) : null;
        rows.push({ i, c, body, messageId, date, raw, attachment });
      }
      const refs = await Promise.all(
        rows.map(async (r) => ({
          raw: await blobs.put(r.raw),
          attachment: r.attachment ? await blobs.put(r.attachment) : null,
        })),
      );
      db.transaction(() => {
        rows.forEach((r, k) => {
          const id = newId();
          const { raw, attachment } = refs[k]!;
          insertBlob.run(raw.sha256, raw.size, now);
          insertMessage.run(
            id,
            orgId,
            `mid:${r.messageId}`,
            r.messageId,
            `order ${r.i}`,
            `customer${r.c}@client.test`,
            r.date,
            r.body.slice(0, 200),
            r.body,
            attachment ? 1 : 0,
            r.raw.length,
            raw.sha256,
            userId,
            now,
          );
          insertLocation.run(newId(), id, accountId, folderId, r.i + 1, now);
          insertParticipant.run(newId(), id, 'from', `customer${r.c}@client.test`);
          insertParticipant.run(newId(), id, 'to', 'owner@bench.test');
          insertLink.run(id, contactIds[r.c]!);
          insertHolder.run(newId(), id, accountId, userId, now);
          if (attachment) {
            insertBlob.run(attachment.sha256, attachment.size, now);
            insertAttachment.run(newId(), id, attachment.sha256, `invoice-${r.i}.pdf`, attachment.size);
          }
        });
      })();
      if ((start / BATCH) % 10 === 0) process.stderr.write(`filled ${start + rows.length}/${MESSAGES}\n`);
    }
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    const fillSeconds = (performance.now() - filledAt) / 1000;
    const dataBytes = duSize(dataDir);
    const dbBytes = fs.statSync(path.join(dataDir, 'conversa.db')).size;

    const env = { ...process.env, CONVERSA_DATA_DIR: dataDir, DATABASE_URL: '', CONVERSA_SECRET_KEY: KEY };
    const out = path.join(root, 'backup');
    let t = performance.now();
    execFileSync(process.execPath, [CLI, 'backup', '--out', out], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    const backupSeconds = (performance.now() - t) / 1000;
    const backupBytes = duSize(out);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')) as {
      counts: Record<string, number>;
      databaseBytes: number;
      blobBytes: number;
    };
    const restored = path.join(root, 'restored');
    t = performance.now();
    execFileSync(process.execPath, [CLI, 'restore', '--from', out], {
      env: { ...env, CONVERSA_DATA_DIR: restored },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const restoreSeconds = (performance.now() - t) / 1000;

    const lines = [
      `messages ${MESSAGES}, contacts ${CONTACTS}, blobs ${manifest.counts.blobs} (fill ${fillSeconds.toFixed(0)} s)`,
      `data dir: ${mb(dataBytes)} on disk (database ${mb(dbBytes)}, blob bytes ${mb(manifest.blobBytes)})`,
      `backup: ${backupSeconds.toFixed(1)} s, ${mb(backupBytes)} on disk (database ${mb(manifest.databaseBytes)})`,
      `restore (verify every checksum, copy): ${restoreSeconds.toFixed(1)} s`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    if (!args.includes('--keep')) fs.rmSync(root, { recursive: true, force: true });
    else process.stderr.write(`kept ${root}\n`);
  }
}

await main();
