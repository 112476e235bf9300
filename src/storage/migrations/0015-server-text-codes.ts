// Localised server texts (issue 15): every status detail and last error the API shows is stored with a stable code
// and its parameters beside the English sentence, so the web app can say it in the user's language. The English
// column stays (logs, API users, rows written before this migration have only it: their code is null).
import type { Kysely } from 'kysely';

type Db = Kysely<any>;

const COLUMNS: Array<[table: string, column: string]> = [
  ['email_accounts', 'status_detail_code'],
  ['email_accounts', 'status_detail_params_json'],
  ['email_accounts', 'calendar_detail_code'],
  ['email_accounts', 'calendar_detail_params_json'],
  // The account's last error is the latest status:error / status:needs_reconnect event.
  ['sync_events', 'detail_code'],
  ['sync_events', 'detail_params_json'],
  // Why a send failed (beside last_error_code, which names SEND_FAILED or SENDER_NOT_VERIFIED).
  ['outbox', 'last_error_reason_code'],
  ['outbox', 'last_error_params_json'],
  ['outbox', 'append_detail_code'],
  ['outbox', 'append_detail_params_json'],
];

export async function up(db: Db): Promise<void> {
  for (const [table, column] of COLUMNS) await db.schema.alterTable(table).addColumn(column, 'text').execute();
}

export async function down(db: Db): Promise<void> {
  for (const [table, column] of [...COLUMNS].reverse()) await db.schema.alterTable(table).dropColumn(column).execute();
}
