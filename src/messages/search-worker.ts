// The worker-thread side of the search pool (search-pool.ts): runs the inbox's and a contact's full-text searches
// on a read-only connection of its own to the SQLite file, so a search's SQL and ranking use another core than the
// one serving HTTP and storing mail. The same functions as the main thread's, so the visibility rule is the same code.
import { parentPort, workerData } from 'node:worker_threads';
import { sql } from 'kysely';
import { AppError } from '../core/app-error.js';
import { openSqliteReader } from '../storage/database.js';
import type { User } from '../users/users.js';
import { contactMessages, inbox } from './messages.js';

export interface SearchWorkerData {
  file: string;
  mmapBytes?: number;
}

export type SearchRequest =
  | { id: number; kind: 'inbox'; user: User; options: Parameters<typeof inbox>[2] }
  | { id: number; kind: 'contact'; user: User; contactId: string; options: Parameters<typeof contactMessages>[3] };

export type SearchResponse =
  | { id: number; ok: true; page: Awaited<ReturnType<typeof inbox>> }
  | {
      id: number;
      ok: false;
      /** An AppError's parts (it is rebuilt on the main thread); anything else only as a message. */
      error: { code: AppError['code'] | null; message: string; details?: Record<string, unknown> };
    };

const data = workerData as SearchWorkerData;
const db = openSqliteReader(data.file, { mmapBytes: data.mmapBytes });
// The connection is opened before the first search is taken (requests wait in the port meanwhile): a file that cannot
// be opened stops this worker, and the pool searches on the main thread instead of failing each search here.
await sql`select 1`.execute(db);

parentPort!.on('message', (request: SearchRequest) => {
  const run =
    request.kind === 'inbox'
      ? inbox(db, request.user, request.options)
      : contactMessages(db, request.user, request.contactId, request.options);
  run.then(
    (page) => parentPort!.postMessage({ id: request.id, ok: true, page } satisfies SearchResponse),
    (error: unknown) =>
      parentPort!.postMessage({
        id: request.id,
        ok: false,
        error:
          error instanceof AppError
            ? { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) }
            : { code: null, message: error instanceof Error ? error.message : String(error) },
      } satisfies SearchResponse),
  );
});
