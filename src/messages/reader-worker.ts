// The worker-thread side of the reader pool (reader-pool.ts): runs the inbox's reads (the inbox and a contact's
// timeline, listed or searched, the unread badge and the contact list) on a read-only connection of its own to the
// SQLite file, so they use another core than the one serving HTTP and storing mail. The same functions as the main
// thread's (runReaderAsk), so the rule of who sees what is the same code.
import { parentPort, workerData } from 'node:worker_threads';
import { sql } from 'kysely';
import { AppError } from '../core/app-error.js';
import { openSqliteReader } from '../storage/database.js';
import { runReaderAsk, type ReaderRequest, type ReaderResponse, type ReaderWorkerData } from './reader-pool.js';

const port = parentPort!;
const data = workerData as ReaderWorkerData;
const db = openSqliteReader(data.file, { mmapBytes: data.mmapBytes });
// The connection is opened before the first request is taken (requests wait in the port meanwhile): a file that
// cannot be opened stops this worker, and the pool reads on the main thread instead of failing each read here.
await sql`select 1`.execute(db);
port.on('message', (request: ReaderRequest) => {
  runReaderAsk(db, request).then(
    (result) => port.postMessage({ id: request.id, ok: true, result } satisfies ReaderResponse),
    (error: unknown) =>
      port.postMessage({
        id: request.id,
        ok: false,
        error:
          error instanceof AppError
            ? { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) }
            : { code: null, message: error instanceof Error ? error.message : String(error) },
      } satisfies ReaderResponse),
  );
});
