// Signatures (issue 15): one per mailbox, HTML, added by the web app's compose to new mail and replies. Stored
// sanitised (the API cleans it on save), at most 64 KB; null when the mailbox has none.
import type { Kysely } from 'kysely';

type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema.alterTable('email_accounts').addColumn('signature_html', 'text').execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.alterTable('email_accounts').dropColumn('signature_html').execute();
}
