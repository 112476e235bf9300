// A big blob in pieces (issue 18): on PostgreSQL a blob went into blob_contents as one bytea value, so a 20 MB
// attachment was whole in the writer's memory (and a first sync's big download with it). A blob written from a file
// (a big download spooled to local disk, a file blob being moved in) now goes in pieces (256 KiB: PART_BYTES), one row
// each in blob_parts, all in one transaction with its blob_contents row, whose `parts` says how many there are (0: the
// bytes are in blob_contents.content, as before). Reads take one piece per round trip, as they took one slice. The
// pieces go with their blob (ON DELETE CASCADE), so collection and every other removal stay one DELETE. SQLite keeps
// its blob files; the table exists there too, empty, so both schemas stay the same (as for 0024).
import { PostgresAdapter, sql, type Kysely } from 'kysely';

type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  await db.schema
    .alterTable('blob_contents')
    .addColumn('parts', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .createTable('blob_parts')
    .addColumn('sha256', 'text', (c) => c.notNull().references('blob_contents.sha256').onDelete('cascade'))
    // The byte offset of the piece in the blob.
    .addColumn('position', 'bigint', (c) => c.notNull())
    .addColumn('content', postgres ? sql`bytea` : sql`blob`, (c) => c.notNull())
    .addPrimaryKeyConstraint('blob_parts_pk', ['sha256', 'position'])
    .execute();
  // As blob_contents.content (0024): no compression attempt on bytes mostly compressed already.
  if (postgres) await sql`ALTER TABLE blob_parts ALTER COLUMN content SET STORAGE EXTERNAL`.execute(db);
}

export async function down(db: Db): Promise<void> {
  await db.schema.dropTable('blob_parts').execute();
  await db.schema.alterTable('blob_contents').dropColumn('parts').execute();
}
