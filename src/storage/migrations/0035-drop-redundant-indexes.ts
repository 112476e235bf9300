// Each stored message writes an entry into every index of its rows, and on a big database an index whose keys come in
// random order (a Message-ID) costs a page read and a page write per entry (issue 18: at 500,000 messages the
// PostgreSQL seed spent most of its time in such lookups and inserts). Three indexes nothing needs:
// - messages (org_id, message_id_header): no statement looks a message up by its header (dedupe_key is the lookup);
// - message_locations (message_id): the prefix of (message_id, account_id, removed_at, seen), which serves it;
// - message_holders (account_id): the prefix of (account_id, direction, date, message_id), likewise (the cascade of a
//   removed mailbox included).
import type { Kysely } from 'kysely';

type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema.dropIndex('messages_message_id_idx').execute();
  await db.schema.dropIndex('message_locations_message_idx').execute();
  await db.schema.dropIndex('message_holders_account_idx').execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema
    .createIndex('messages_message_id_idx')
    .on('messages')
    .columns(['org_id', 'message_id_header'])
    .execute();
  await db.schema.createIndex('message_locations_message_idx').on('message_locations').column('message_id').execute();
  await db.schema.createIndex('message_holders_account_idx').on('message_holders').column('account_id').execute();
}
