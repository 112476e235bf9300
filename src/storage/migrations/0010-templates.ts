// Templates (issue 15): saved subject + HTML with merge fields. A personal template (shared 0) is its owner's alone;
// a shared one (shared 1) is read by the whole organisation and changed only by administrators. The owner stays
// recorded on shared ones too (who wrote it), and a template goes with its owner's row.
import type { Kysely } from 'kysely';

type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema
    .createTable('templates')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
    .addColumn('owner_user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('shared', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('html', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  // The two reads: a user's own templates (also counted for the per-user limit) and the organisation's shared ones.
  await db.schema.createIndex('templates_owner_idx').on('templates').columns(['owner_user_id', 'shared']).execute();
  await db.schema.createIndex('templates_org_shared_idx').on('templates').columns(['org_id', 'shared']).execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.dropTable('templates').execute();
}
