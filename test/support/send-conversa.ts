// A Conversa server for the sending tests: the real composition (startTestConversa) with short outbox backoffs,
// plus control of the outbox worker: stop it and start a fresh one (a process restart, as far as sending is
// concerned), or run its two steps one at a time to stop between them the way a crash would.
import { createOutbox, OutboxSteps, type Outbox, type OutboxDeps } from '../../src/mail/send/outbox.js';
import type { AppSmtpConfig } from '../../src/mail/send/smtp-settings.js';
import type { DkimConfig } from '../../src/mail/send/dkim.js';
import type { Storage } from '../../src/storage/database.js';
import { startTestConversa } from './conversa-server.js';
import type { TestDatabase } from './databases.js';

export interface SendConversa {
  url: string;
  storage: Storage;
  token: string;
  outboxDeps: OutboxDeps;
  api(
    method: string,
    route: string,
    body?: unknown,
    token?: string,
  ): Promise<{ status: number; body: any; text: string }>;
  addUser(options?: { admin?: boolean; displayName?: string }): Promise<{ id: string; token: string; email: string }>;
  /** Stops the worker (as a process exit would) without touching the rest. */
  stopOutbox(): Promise<void>;
  /** A fresh worker on the same database, like the next start of the process. */
  startOutbox(): void;
  /** The worker's steps, to run one at a time (no loop). */
  steps(): OutboxSteps;
  /** Stops this process's follow-up reminder sweep, so only the read path evaluates reminders. */
  stopReminders(): Promise<void>;
  stop(): Promise<void>;
}

/** The relay and DKIM settings as the environment gives them to a real start. */
function relayEnv(
  appSmtp: AppSmtpConfig | null | undefined,
  dkim: DkimConfig | null | undefined,
): Record<string, string> {
  const env: Record<string, string> = {};
  if (appSmtp) {
    Object.assign(env, {
      APP_SMTP_HOST: appSmtp.host,
      APP_SMTP_PORT: String(appSmtp.port),
      APP_SMTP_SECURE: String(appSmtp.secure),
    });
    if (appSmtp.auth) Object.assign(env, { APP_SMTP_USER: appSmtp.auth.user, APP_SMTP_PASSWORD: appSmtp.auth.pass });
  }
  if (dkim)
    Object.assign(env, {
      DKIM_DOMAIN: dkim.domainName,
      DKIM_SELECTOR: dkim.keySelector,
      DKIM_PRIVATE_KEY: dkim.privateKey,
    });
  return env;
}

export async function startSendConversa(
  options: { database?: TestDatabase; appSmtp?: AppSmtpConfig | null; dkim?: DkimConfig | null } = {},
): Promise<SendConversa> {
  const conversa = await startTestConversa(
    { ...relayEnv(options.appSmtp, options.dkim), LOG_LEVEL: 'warn' },
    options.database,
    {
      outbox: { backoffBaseMs: 200, backoffMaxMs: 400, maxAttempts: 4, pollIntervalMs: 500, timeoutMs: 10_000 },
    },
  );
  const { server } = conversa;
  let outbox: Outbox | undefined = server.outbox;
  return {
    url: conversa.url,
    storage: server.storage,
    token: conversa.token,
    outboxDeps: server.outboxDeps,
    api: conversa.api,
    addUser: conversa.addUser,
    async stopOutbox() {
      await outbox?.stop();
      outbox = undefined;
    },
    startOutbox() {
      outbox = createOutbox(server.outboxDeps);
      outbox.start();
    },
    steps: () => new OutboxSteps(server.outboxDeps),
    stopReminders: async () => server.background?.reminders.stop(),
    async stop() {
      await outbox?.stop();
      await conversa.stop();
    },
  };
}
