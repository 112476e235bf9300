// The audit log (issue 19): who did what to what, and when. Rows are only ever inserted: no route changes or removes
// them, so an administrator reading it sees what happened, not what someone wished had happened.
import type { Kysely } from 'kysely';

type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema
    .createTable('audit_log')
    .addColumn('id', 'text', (c) => c.primaryKey())
    // Null for what the operator does from the command line (backup, restore) before any organisation exists.
    .addColumn('org_id', 'text')
    .addColumn('at', 'bigint', (c) => c.notNull())
    // Null: the system or the command line; kept when the user is removed (no foreign key on purpose).
    .addColumn('actor_id', 'text')
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('target', 'text')
    .addColumn('details_json', 'text')
    .addColumn('ip', 'text')
    .execute();
  await db.schema.createIndex('audit_log_org_at_idx').on('audit_log').columns(['org_id', 'at']).execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.dropTable('audit_log').execute();
}
