// Teams (issue 14): users can be deactivated (their mailboxes paused, their mail kept), colleagues are invited with
// a single-use link, and the first-run setup happens exactly once. The setup's "once" is a row with a fixed primary
// key, so two racing setups collide on the key in the database itself (both dialects), not in a check-then-insert.
import { sql, type Kysely } from 'kysely';

type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema
    .alterTable('users')
    .addColumn('active', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema.alterTable('users').addColumn('deactivated_at', 'bigint').execute();
  // 1 while the owner is deactivated: the lease claim skips the account and the outbox refuses it; mail is kept.
  await db.schema
    .alterTable('email_accounts')
    .addColumn('paused', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .createTable('invitations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    // sha256 of the link's token, like sessions: a leaked database yields no usable link.
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_by', 'text', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('accepted_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('invitations_user_idx').on('invitations').column('user_id').execute();
  // One row at most (id is always 'setup'): inserting it is what makes a setup the first and only one.
  await db.schema
    .createTable('setup_marks')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('done_at', 'bigint', (c) => c.notNull())
    .execute();
  // Installs that already have users (made with the CLI) are set up.
  await sql`insert into setup_marks (id, done_at) select 'setup', ${Date.now()} where exists (select 1 from users)`.execute(
    db,
  );
}

export async function down(db: Db): Promise<void> {
  await db.schema.dropTable('setup_marks').execute();
  await db.schema.dropTable('invitations').execute();
  await db.schema.alterTable('email_accounts').dropColumn('paused').execute();
  await db.schema.alterTable('users').dropColumn('deactivated_at').execute();
  await db.schema.alterTable('users').dropColumn('active').execute();
}
