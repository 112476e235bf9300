// Blobs in the database (issue 18): on PostgreSQL the bytes of raw messages and attachments live in blob_contents, so
// a worker on another machine needs only DATABASE_URL and the secret key (no shared volume). SQLite keeps its files
// (the table exists there too, empty, so both schemas stay the same). written_at is the last put of the blob: the
// collector's grace period counts from it, so a blob that intake has just (re)written is never collected before the
// row naming it commits. The indexes serve the collector's "does any row still name this blob?" on every column
// that names one.
import { PostgresAdapter, sql, type Kysely } from 'kysely';

type Db = Kysely<any>;

function isPostgres(db: Db): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

export async function up(db: Db): Promise<void> {
  const postgres = isPostgres(db);
  await db.schema
    .createTable('blob_contents')
    .addColumn('sha256', 'text', (c) => c.primaryKey())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('content', postgres ? sql`bytea` : sql`blob`, (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('written_at', 'bigint', (c) => c.notNull())
    .execute();
  // No compression attempt (attachments are mostly compressed already; raw mail is base64) and, above all, reads in
  // slices (substring) then fetch only the TOAST chunks they need instead of decompressing from the start each time.
  if (postgres) await sql`ALTER TABLE blob_contents ALTER COLUMN content SET STORAGE EXTERNAL`.execute(db);
  await db.schema.createIndex('messages_raw_blob_idx').on('messages').column('raw_blob_sha256').execute();
  await db.schema.createIndex('attachments_blob_idx').on('attachments').column('blob_sha256').execute();
  await db.schema.createIndex('outbox_tracked_blob_idx').on('outbox').column('tracked_raw_blob_sha256').execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.dropIndex('outbox_tracked_blob_idx').execute();
  await db.schema.dropIndex('attachments_blob_idx').execute();
  await db.schema.dropIndex('messages_raw_blob_idx').execute();
  await db.schema.dropTable('blob_contents').execute();
}
