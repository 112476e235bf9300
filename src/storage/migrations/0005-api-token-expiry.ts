// API tokens can expire (audit item 12): `expires_at` (epoch ms, null = never). Revoking deletes the row, so a
// revoked token is simply unknown. The index serves "my tokens" lists.
import type { Kysely } from 'kysely';

type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema.alterTable('api_tokens').addColumn('expires_at', 'bigint').execute();
  await db.schema.createIndex('api_tokens_user_idx').on('api_tokens').column('user_id').execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.dropIndex('api_tokens_user_idx').execute();
  await db.schema.alterTable('api_tokens').dropColumn('expires_at').execute();
}
