// Data-subject erasure (issue 19, LGPD/GDPR): what remains of an erased person is the one-way hash of each of their
// addresses, so that sync, the BCC address and automatic creation recognise the person without keeping the address.
import type { Kysely } from 'kysely';

type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema
    .createTable('erased_addresses')
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
    // sha256 (hex) of the trimmed, lower-cased address, no salt: the same form as suppressions.address_hash.
    .addColumn('address_hash', 'text', (c) => c.notNull())
    .addColumn('erased_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('erased_addresses_pk', ['org_id', 'address_hash'])
    .execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.dropTable('erased_addresses').execute();
}
