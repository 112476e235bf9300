// A loopback SMTP sink (smtp-server) that accepts every message Dovecot's submission service relays.
// Each message is kept in memory for the process that runs the sink and also written to a directory,
// so test workers (other processes) can read what arrived with readSinkMessages / waitForSinkMessage.

import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { pollUntil } from './process.js';

export interface SinkMessage {
  /** Sortable by arrival: zero-padded epoch milliseconds, a sequence number and a random suffix. */
  id: string;
  receivedAt: string;
  /** Envelope sender (MAIL FROM), null for the null sender `<>`. */
  mailFrom: string | null;
  /** Envelope recipients (RCPT TO). */
  rcptTo: string[];
  /** The message exactly as relayed (after Dovecot's submission service added its headers). */
  raw: Buffer;
}

interface SinkMeta {
  id: string;
  receivedAt: string;
  mailFrom: string | null;
  rcptTo: string[];
}

export type SinkPredicate = (message: SinkMessage) => boolean;

export interface SmtpSink {
  host: string;
  port: number;
  dir: string;
  /** Every message received so far, in arrival order (in-process view). */
  readonly messages: readonly SinkMessage[];
  waitFor(predicate: SinkPredicate, timeoutMs?: number): Promise<SinkMessage>;
  close(): Promise<void>;
}

let sequence = 0;

/** Starts the sink on a free 127.0.0.1 port; messages are also stored as files in `dir`. */
export async function startSmtpSink(dir: string): Promise<SmtpSink> {
  await mkdir(dir, { recursive: true });
  const messages: SinkMessage[] = [];

  const server = new SMTPServer({
    // Without this smtp-server does a reverse DNS lookup per connection; there is no DNS here.
    disableReverseLookup: true,
    // Loopback only, no TLS: let AUTH happen in the clear and never require it.
    allowInsecureAuth: true,
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    // Dovecot is stopped before the sink; don't let a lingering relay connection hold teardown 30 s.
    closeTimeout: 1_000,
    banner: 'conversa test sink',
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.once('error', (error: Error) => callback(error));
      stream.once('end', () => {
        const meta: SinkMeta = {
          id: `${String(Date.now()).padStart(15, '0')}-${String(sequence++).padStart(6, '0')}-${randomBytes(3).toString('hex')}`,
          receivedAt: new Date().toISOString(),
          mailFrom: session.envelope.mailFrom === false ? null : session.envelope.mailFrom.address || null,
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
        };
        const raw = Buffer.concat(chunks);
        store(dir, meta, raw).then(
          () => {
            messages.push({ ...meta, raw });
            callback(null, `Queued as ${meta.id}`);
          },
          (error: Error) => callback(error),
        );
      });
    },
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      const address = server.server.address();
      if (address === null || typeof address === 'string') reject(new Error('sink has no TCP address'));
      else resolve(address.port);
    });
  });
  // A broken client connection must not crash the global-setup process.
  server.on('error', () => undefined);

  return {
    host: '127.0.0.1',
    port,
    dir,
    messages,
    waitFor: (predicate, timeoutMs = 10_000) =>
      pollUntil('a matching message at the SMTP sink', () => messages.find(predicate), { timeoutMs }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function store(dir: string, meta: SinkMeta, raw: Buffer): Promise<void> {
  // The .json file appears last and atomically (rename), so a reader never sees half a message.
  await writeFile(join(dir, `${meta.id}.eml`), raw);
  const tmp = join(dir, `${meta.id}.json.tmp`);
  await writeFile(tmp, JSON.stringify(meta));
  await rename(tmp, join(dir, `${meta.id}.json`));
}

/** All messages the sink has stored in `sinkDir`, in arrival order. Works from any process. */
export async function readSinkMessages(sinkDir: string): Promise<SinkMessage[]> {
  const names = (await readdir(sinkDir)).filter((n) => n.endsWith('.json')).sort();
  return Promise.all(
    names.map(async (name) => {
      const meta = JSON.parse(await readFile(join(sinkDir, name), 'utf8')) as SinkMeta;
      return { ...meta, raw: await readFile(join(sinkDir, `${meta.id}.eml`)) };
    }),
  );
}

/**
 * Polls the sink directory until a message matches `predicate`. Other tests share the sink, so the
 * predicate should pick out this test's message (a unique recipient or subject).
 */
export async function waitForSinkMessage(
  info: { sinkDir: string },
  predicate: SinkPredicate,
  timeoutMs = 10_000,
): Promise<SinkMessage> {
  const seen = new Map<string, SinkMessage>();
  return pollUntil(
    'a matching message at the SMTP sink',
    async () => {
      const names = (await readdir(info.sinkDir)).filter((n) => n.endsWith('.json')).sort();
      for (const name of names) {
        const id = name.slice(0, -'.json'.length);
        let message = seen.get(id);
        if (message === undefined) {
          const meta = JSON.parse(await readFile(join(info.sinkDir, name), 'utf8')) as SinkMeta;
          message = { ...meta, raw: await readFile(join(info.sinkDir, `${id}.eml`)) };
          seen.set(id, message);
        }
        if (predicate(message)) return message;
      }
      return undefined;
    },
    { timeoutMs, intervalMs: 100 },
  );
}
