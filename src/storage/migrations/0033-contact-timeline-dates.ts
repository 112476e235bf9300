// A contact's timeline at scale (issue 18): its page was every message of the contact, read and sorted by date before
// LIMIT (message_contacts carried no date), so a contact with thousands of messages cost ~1 s on PostgreSQL at
// 830,000 messages. Each link now carries its message's date (a message's date never changes, as for
// message_holders in 0025) and (contact_id, date, message_id) hands a contact's mail out newest first, ready for
// LIMIT and the (date, id) cursor. It replaces the (contact_id) index, whose every use it serves.
import { sql, type Kysely } from 'kysely';

type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema
    .alterTable('message_contacts')
    .addColumn('date', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
  // UPDATE … FROM: a join on both dialects (SQLite ≥ 3.33), not a subquery per row.
  await sql`UPDATE message_contacts SET date = messages.date FROM messages WHERE messages.id = message_contacts.message_id`.execute(
    db,
  );
  await db.schema
    .createIndex('message_contacts_contact_date_idx')
    .on('message_contacts')
    .columns(['contact_id', 'date', 'message_id'])
    .execute();
  await db.schema.dropIndex('message_contacts_contact_idx').execute();
  await sql`ANALYZE message_contacts`.execute(db);
}

export async function down(db: Db): Promise<void> {
  await db.schema.createIndex('message_contacts_contact_idx').on('message_contacts').column('contact_id').execute();
  await db.schema.dropIndex('message_contacts_contact_date_idx').execute();
  await db.schema.alterTable('message_contacts').dropColumn('date').execute();
}
