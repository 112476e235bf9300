// Issue 15 (H3): one queued message as the SMTP transactions it needs. Without tracking it is one transaction with
// the stored bytes to every recipient. With a tracked copy (a second blob on the outbox row), the recipients outside
// the organisation get that copy in a transaction of its own and everyone else the stored bytes; the tracked one goes
// first and its sending is recorded at once (tracked_messages.sent_at), so a retry after the second transaction
// failed does not send the tracked copy twice. The "too soon" verdicts count from that same moment.
import type { Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import type { BlobStore } from '../../storage/blob-store.js';
import type { Db } from '../../storage/database.js';
import { markTrackedSent, trackedSentAt } from '../../tracking/tracked-messages.js';

export interface CopiesResult {
  accepted: string[];
  rejected: string[];
  rejectedErrors: Error[];
  response: string | undefined;
}

export interface CopiesInput {
  db: Db;
  blobs: BlobStore;
  signal: AbortSignal;
  transporter: Transporter<SMTPTransport.SentMessageInfo>;
  from: string;
  /** Every envelope recipient (lower-cased). */
  to: string[];
  /** The stored bytes (the untracked copy). */
  raw: Buffer;
  /** The CRM message id. */
  messageId: string;
  outbox: { tracked_raw_blob_sha256?: string | null; tracked_rcpts_json?: string | null };
}

function asList(value: unknown): string[] {
  return Array.isArray(value)
    ? value.map((v) => (typeof v === 'string' ? v : String((v as { address?: string }).address ?? v)))
    : [];
}

export async function sendCopies(input: CopiesInput): Promise<CopiesResult> {
  const result: CopiesResult = { accepted: [], rejected: [], rejectedErrors: [], response: undefined };
  const send = async (to: string[], raw: Buffer) => {
    input.signal.throwIfAborted();
    // `raw`: the bytes go out exactly as they are (only a DKIM signature may be put in front).
    const info = await input.transporter.sendMail({ envelope: { from: input.from, to }, raw });
    result.accepted.push(...asList(info.accepted));
    result.rejected.push(...asList(info.rejected));
    result.rejectedErrors.push(...((info.rejectedErrors ?? []) as Error[]));
    if (typeof info.response === 'string') result.response = info.response;
  };
  const trackedSha = input.outbox.tracked_raw_blob_sha256 ?? null;
  const listed = trackedSha ? (JSON.parse(input.outbox.tracked_rcpts_json ?? '[]') as string[]) : [];
  const external = new Set(listed.map((a) => a.toLowerCase()));
  const trackedTo = input.to.filter((a) => external.has(a.toLowerCase()));
  const plainTo = input.to.filter((a) => !external.has(a.toLowerCase()));
  if (trackedSha && trackedTo.length > 0) {
    if ((await trackedSentAt(input.db, input.messageId)) === null) {
      const tracked = await input.blobs.get(trackedSha, { signal: input.signal });
      await send(trackedTo, tracked);
      await markTrackedSent(input.db, input.messageId, Date.now());
    }
  }
  if (plainTo.length > 0 || !trackedSha) await send(trackedSha ? plainTo : input.to, input.raw);
  return result;
}
