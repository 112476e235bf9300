#!/usr/bin/env node
// The `conversa` command: serve, migrate, user add, token create/list/revoke. Output meant for scripts (a token)
// is printed alone; everything else goes to stderr so it can be piped.
import { parseArgs } from 'node:util';
import { limitHeapGrowth } from './app/heap-growth.js';

// V8's heap limits first, and only then the rest of the program: loading its modules is what grows the young
// generation, which never gives the memory back (see heap-growth.ts). Hence the imports below are dynamic.
limitHeapGrowth();
const { AppError } = await import('./core/app-error.js');
const { ConfigError, loadConfig } = await import('./app/config.js');
const { startServer, startWorker } = await import('./app/start-server.js');
const { migrateToLatest, openStorage } = await import('./storage/database.js');
const { secureDataDir } = await import('./storage/secure-data-dir.js');
const { createBackup, POSTGRES_NOTE, restoreBackup } = await import('./ops/backup.js');
const { BLOB_GRACE_MS, collectBlobs } = await import('./storage/collect-blobs.js');
const { importFileBlobs } = await import('./storage/import-file-blobs.js');
const { blobsDirOf, openBlobStore } = await import('./storage/open-blob-store.js');
const { createUser, findUserByEmail, issueApiToken, listApiTokens, revokeApiToken } = await import('./users/users.js');

const USAGE = `Usage:
  conversa serve                                   run the web app, API and background work
  conversa worker                                  run only the background work (sync, sending), for scale-out
  conversa migrate                                 bring the database schema up to date
  conversa user add --email E --password P [--admin] [--name N]
  conversa token create --email E [--name N] [--expires-in-days D]
                                                   print a new API token for that user
  conversa token list --email E                    that user's tokens (id, name, dates; never the tokens)
  conversa token revoke --id ID                    revoke a token at once
  conversa backup --out PATH                       consistent copy of the running install (database + blobs,
                                                   manifest); on PostgreSQL a manifest and a note: pg_dump holds
                                                   the database and its blobs
  conversa restore --from PATH                     into an empty CONVERSA_DATA_DIR (the secret key is not in a backup)
  conversa blobs import                            PostgreSQL: move the blob files of CONVERSA_DATA_DIR/blobs into the
                                                   database (resumable; serve and worker also do it at start-up)
  conversa blobs collect [--grace-minutes M]       remove blobs no row names any more, written over M minutes ago
                                                   (default 60; also done hourly by the background work)
Environment: PORT, HOST, CONVERSA_DATA_DIR, DATABASE_URL, CONVERSA_SECRET_KEY, BCC_SMTP_PORT, BCC_DOMAIN, PUBLIC_URL`;

class UsageError extends Error {}

async function withStorage<T>(fn: (storage: ReturnType<typeof openStorage>) => Promise<T>): Promise<T> {
  const config = loadConfig();
  if (!config.databaseUrl) secureDataDir(config.dataDir);
  const storage = openStorage(config);
  try {
    await migrateToLatest(storage.db);
    return await fn(storage);
  } finally {
    await storage.close();
  }
}

async function userByEmail(db: ReturnType<typeof openStorage>['db'], email: string) {
  const user = await findUserByEmail(db, email);
  if (!user)
    throw new AppError('NOT_FOUND', `No user with the e-mail ${email}`, {
      hint: 'Create one with: conversa user add --email E --password P',
    });
  return user;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      email: { type: 'string' },
      password: { type: 'string' },
      'password-stdin': { type: 'boolean' },
      admin: { type: 'boolean' },
      name: { type: 'string' },
      'expires-in-days': { type: 'string' },
      id: { type: 'string' },
      out: { type: 'string' },
      from: { type: 'string' },
      'grace-minutes': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const command = positionals.join(' ');
  if (values.help || command === '' || command === 'help') {
    process.stderr.write(`${USAGE}\n`);
    return command === '' && !values.help ? 2 : 0;
  }
  switch (command) {
    case 'serve': {
      const server = await startServer(loadConfig());
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        server.app.log.info({ signal }, 'shutting down');
        await server.stop();
        process.exit(0);
      };
      process.on('SIGINT', () => void stop('SIGINT'));
      process.on('SIGTERM', () => void stop('SIGTERM'));
      return -1;
    }
    case 'worker': {
      const worker = await startWorker(loadConfig());
      let stopping = false;
      const stop = async () => {
        if (stopping) return;
        stopping = true;
        await worker.stop();
        process.exit(0);
      };
      process.on('SIGINT', () => void stop());
      process.on('SIGTERM', () => void stop());
      return -1;
    }
    case 'migrate': {
      const result = await withStorage(async (storage) => ({
        result: await migrateToLatest(storage.db),
        dialect: storage.dialect,
      }));
      process.stderr.write(`Database (${result.dialect}) is up to date.\n`);
      return 0;
    }
    case 'user add': {
      if (!values.email) throw new UsageError('--email is required');
      const password = values['password-stdin'] ? await readStdin() : values.password;
      if (!password) throw new UsageError('--password (or --password-stdin) is required');
      const user = await withStorage((s) =>
        createUser(s.db, {
          email: values.email!,
          password,
          isAdmin: values.admin ?? false,
          displayName: values.name ?? null,
        }),
      );
      process.stderr.write(`Created ${user.isAdmin ? 'administrator' : 'user'} ${user.email} (${user.id}).\n`);
      return 0;
    }
    case 'token create': {
      if (!values.email) throw new UsageError('--email is required');
      const rawDays = values['expires-in-days'];
      const days = rawDays === undefined ? null : Number(rawDays);
      if (days !== null && !/^\d+$/.test(rawDays!))
        throw new UsageError('--expires-in-days must be a whole number of days');
      const issued = await withStorage(async (s) => {
        const user = await userByEmail(s.db, values.email!);
        return issueApiToken(s.db, user.id, { name: values.name ?? null, expiresInDays: days });
      });
      process.stdout.write(`${issued.token}\n`);
      return 0;
    }
    case 'token list': {
      if (!values.email) throw new UsageError('--email is required');
      const tokens = await withStorage(async (s) => listApiTokens(s.db, (await userByEmail(s.db, values.email!)).id));
      // One token a line, tab-separated, for scripts: id, name, created, last used, expires ("-" when none).
      for (const t of tokens) {
        process.stdout.write(
          `${[t.id, t.name ?? '-', t.createdAt, t.lastUsedAt ?? '-', t.expiresAt ?? 'never'].join('\t')}\n`,
        );
      }
      if (tokens.length === 0) process.stderr.write(`${values.email} has no API tokens.\n`);
      return 0;
    }
    case 'token revoke': {
      if (!values.id) throw new UsageError('--id is required (see: conversa token list --email E)');
      const revoked = await withStorage((s) => revokeApiToken(s.db, values.id!));
      if (!revoked) throw new AppError('NOT_FOUND', `No API token with the id ${values.id}`);
      process.stderr.write(`Revoked token ${values.id}.\n`);
      return 0;
    }
    case 'backup': {
      if (!values.out) throw new UsageError('--out is required');
      const config = loadConfig();
      const manifest = await createBackup(config, values.out, (line) => process.stderr.write(`${line}\n`));
      if (manifest.dialect === 'postgres') process.stderr.write(`\n${POSTGRES_NOTE}`);
      process.stdout.write(`${JSON.stringify(manifest.counts)}\n`);
      return 0;
    }
    case 'restore': {
      if (!values.from) throw new UsageError('--from is required');
      await restoreBackup(loadConfig(), values.from, (line) => process.stderr.write(`${line}\n`));
      return 0;
    }
    case 'blobs import': {
      const config = loadConfig();
      if (!config.databaseUrl)
        throw new UsageError('blobs import is for PostgreSQL (DATABASE_URL): SQLite keeps files');
      const result = await withStorage((s) =>
        importFileBlobs(s.db, openBlobStore(s, config.dataDir), blobsDirOf(config.dataDir), {
          force: true,
          progress: (line) => process.stderr.write(`${line}\n`),
        }),
      );
      process.stdout.write(`${JSON.stringify({ ...result, damaged: result.damaged.length })}\n`);
      return result.damaged.length > 0 ? 1 : 0;
    }
    case 'blobs collect': {
      const raw = values['grace-minutes'];
      if (raw !== undefined && !/^\d+$/.test(raw)) throw new UsageError('--grace-minutes must be a whole number');
      const graceMs = raw === undefined ? BLOB_GRACE_MS : Number(raw) * 60_000;
      const config = loadConfig();
      const result = await withStorage((s) =>
        collectBlobs(s.db, openBlobStore(s, config.dataDir), {
          graceMs,
          progress: (line) => process.stderr.write(`${line}\n`),
        }),
      );
      process.stdout.write(`${JSON.stringify(result)}\n`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError || (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      process.stderr.write(`conversa: ${(error as Error).message}\n\n${USAGE}\n`);
      process.exitCode = 2;
    } else if (error instanceof AppError || error instanceof ConfigError) {
      const hint = error instanceof AppError && error.hint ? `\n${error.hint}` : '';
      process.stderr.write(`conversa: ${error.message}${hint}\n`);
      process.exitCode = 1;
    } else {
      const cause = (error as Error)?.cause;
      process.stderr.write(
        `conversa: ${(error as Error)?.stack ?? String(error)}${cause ? `\ncaused by: ${(cause as Error).stack ?? String(cause)}` : ''}\n`,
      );
      process.exitCode = 1;
    }
  },
);
