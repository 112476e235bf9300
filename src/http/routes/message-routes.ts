// Reading stored mail: a contact's timeline, the inbox, one message, its attachments, a thread.
import { z } from 'zod';
import {
  contactMessages,
  getAttachment,
  getMessage,
  getMessageSummary,
  getThread,
  inbox,
  unreadCount,
} from '../../messages/messages.js';
import { setMessageRead } from '../../messages/read-state.js';
import type { ReaderPool } from '../../messages/reader-pool.js';
import type { BlobStore } from '../../storage/blob-store.js';
import type { Db } from '../../storage/database.js';
import type { ApiRouter } from '../api-router.js';
import {
  messageDetailSchema,
  messagePageSchema,
  messageSchema,
  threadSchema,
  unreadCountSchema,
} from '../api-schemas.js';
import { idParams, pageQuery } from './schemas.js';
import { withTrackingCounts } from '../../tracking/tracking-events.js';

/** A filename for Content-Disposition: ASCII fallback plus the RFC 5987 UTF-8 form. */
function contentDisposition(filename: string | null): string {
  const name = filename ?? 'attachment';
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

/**
 * Full-text search (issue 18): subject, people, attachment names and body text, accent- and case-insensitive; words
 * AND-ed, "quoted words" a phrase, the last word also a prefix. Ranked best first; the cursor is then an offset, at
 * most 1,000 results deep.
 */
const searchQuery = z
  .string()
  .max(200)
  .optional()
  .describe(
    'Full-text search of subject, people, attachment names and body (accent- and case-insensitive). Words are AND-ed, "quoted words" are a phrase, the last word is also a prefix. Results are ranked (best first, then newest), each with `match`; paging stops at 1,000 results.',
  );

export interface MessageRouteDeps {
  db: Db;
  blobs: BlobStore;
  /**
   * The inbox, a contact's timeline (searched or not) and the unread badge go to these worker threads when present
   * (SQLite, reader-pool.ts).
   */
  readers?: ReaderPool;
  /** \Seen changes were queued for these mailboxes: the process holding one's lease writes them now. */
  flagWritesQueued?(accountIds: string[]): void;
}

export function messageRoutes(router: ApiRouter, deps: MessageRouteDeps): void {
  const { db } = deps;
  router.route({
    method: 'GET',
    path: '/api/contacts/:id/messages',
    summary: "A contact's mail, newest first",
    tag: 'messages',
    auth: 'user',
    params: idParams,
    query: z.object({ q: searchQuery, ...pageQuery }),
    responses: { 200: { description: 'A page', schema: messagePageSchema } },
    handler: async ({ user, params, query }) => {
      const page = deps.readers
        ? await deps.readers.contactMessages(user, params.id, query)
        : await contactMessages(db, user, params.id, query);
      // Issue 15 (H3): open/click/reply counts of the tracked ones, one grouped query for the page.
      return { ...page, items: await withTrackingCounts(db, user, page.items) };
    },
  });

  router.route({
    method: 'GET',
    path: '/api/inbox',
    summary: "Received mail of the caller's mailboxes, newest first",
    tag: 'messages',
    auth: 'user',
    query: z.object({ accountId: z.string().uuid().optional(), q: searchQuery, ...pageQuery }),
    responses: { 200: { description: 'A page', schema: messagePageSchema } },
    handler: ({ user, query }) => (deps.readers ? deps.readers.inbox(user, query) : inbox(db, user, query)),
  });

  // Read state (issue 15, H4): the unread badge and PATCH {read}.
  router.route({
    method: 'GET',
    path: '/api/inbox/unread-count',
    summary: "How many messages of the caller's inbox are unread for them",
    tag: 'messages',
    auth: 'user',
    responses: { 200: { description: 'The count', schema: unreadCountSchema } },
    handler: async ({ user }) => ({
      unread: await (deps.readers ? deps.readers.unreadCount(user) : unreadCount(db, user)),
    }),
  });

  router.route({
    method: 'PATCH',
    path: '/api/messages/:id',
    summary:
      'Mark a message read or unread for the caller; in their own mailboxes written back to the server as \\Seen',
    tag: 'messages',
    auth: 'user',
    params: idParams,
    body: z.strictObject({ read: z.boolean() }),
    responses: { 200: { description: 'The message', schema: messageSchema } },
    handler: async ({ user, params, body }) => {
      const change = await setMessageRead(db, user, params.id, body.read);
      if (change.accountIds.length > 0) deps.flagWritesQueued?.(change.accountIds);
      return getMessageSummary(db, user, params.id);
    },
  });

  router.route({
    method: 'GET',
    path: '/api/messages/:id',
    summary: 'One message with its text, sanitised HTML and attachments',
    tag: 'messages',
    auth: 'user',
    params: idParams,
    responses: { 200: { description: 'The message', schema: messageDetailSchema } },
    handler: async ({ user, params }) => {
      const [message] = await withTrackingCounts(db, user, [await getMessage(db, user, params.id)]);
      return message!;
    },
  });

  router.route({
    method: 'GET',
    path: '/api/messages/:id/attachments/:attachmentId',
    summary: "An attachment's bytes",
    tag: 'messages',
    auth: 'user',
    params: z.object({ id: z.string().uuid(), attachmentId: z.string().uuid() }),
    responses: { 200: { description: 'The bytes', contentType: 'application/octet-stream', schema: z.string() } },
    handler: async ({ user, params, reply }) => {
      const attachment = await getAttachment(db, user, params.id, params.attachmentId);
      // Streamed piece by piece where the store can (a 20 MB attachment is never whole in memory); a blob gone
      // before the first byte is a 404, one gone midway cuts the answer short of its content-length.
      const blob = deps.blobs.stream ? await deps.blobs.stream(attachment.sha256) : null;
      const bytes = blob ? null : await deps.blobs.get(attachment.sha256);
      // Served as a download, never rendered in our origin: an HTML attachment must not run as our page.
      reply
        .header('content-type', attachment.contentType || 'application/octet-stream')
        .header('content-disposition', contentDisposition(attachment.filename))
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', "default-src 'none'; sandbox");
      if (blob) return reply.header('content-length', blob.size).send(blob.content);
      return reply.send(bytes);
    },
  });

  router.route({
    method: 'GET',
    path: '/api/threads/:id',
    summary: 'A thread, oldest message first',
    tag: 'messages',
    auth: 'user',
    params: idParams,
    responses: { 200: { description: 'The thread', schema: threadSchema } },
    handler: async ({ user, params }) => {
      const thread = await getThread(db, user, params.id);
      return { ...thread, messages: await withTrackingCounts(db, user, thread.messages) };
    },
  });
}
