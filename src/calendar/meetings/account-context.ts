// The account as the calendar code sees it (its own and its organisation's addresses, the owner's contact settings)
// and the span of days meetings are kept for. Shared by ingest (what a sync stores) and write (what the CRM stores
// after writing to the calendar).
import { normalizeEmail } from '../../contacts/email-address.js';
import { organisationAddresses } from '../../mail/accounts/organisation-addresses.js';
import { parseNeverLogList, type NeverLogList } from '../../mail/rules/never-log.js';
import type { Db } from '../../storage/database.js';
import type { EmailAccountsTable } from '../../storage/schema.js';
import type { TimeWindow } from '../ical/parse-events.js';

const DAY_MS = 86_400_000;

export interface AccountContext {
  id: string;
  orgId: string;
  userId: string;
  email: string;
  historyDays: number;
  autoCreateContacts: boolean;
  neverLog: NeverLogList;
  /**
   * Every address of the organisation's own people: never a contact, and "organizer is self" when it is the account's.
   */
  orgAddresses: Set<string>;
  /** The account's own addresses (mailbox, login, the calendar's user addresses). */
  ownAddresses: Set<string>;
}

export async function accountContext(
  db: Db,
  row: EmailAccountsTable,
  bccDomain: string,
  calendarAddresses: string[] = [],
): Promise<AccountContext> {
  const [orgAddresses, settings] = await Promise.all([
    organisationAddresses(db, row.org_id, bccDomain),
    db
      .selectFrom('user_settings')
      .select(['auto_create_contacts', 'never_log_json'])
      .where('user_id', '=', row.user_id)
      .executeTakeFirst(),
  ]);
  const ownAddresses = new Set<string>([
    normalizeEmail(row.email),
    ...(row.username.includes('@') ? [normalizeEmail(row.username)] : []),
    ...calendarAddresses.map(normalizeEmail),
  ]);
  for (const address of ownAddresses) orgAddresses.add(address);
  return {
    id: row.id,
    orgId: row.org_id,
    userId: row.user_id,
    email: row.email,
    historyDays: row.history_days,
    autoCreateContacts: settings?.auto_create_contacts === 1,
    neverLog: parseNeverLogList(JSON.parse(settings?.never_log_json ?? '[]') as string[]),
    orgAddresses,
    ownAddresses,
  };
}

export interface WindowOptions {
  /** Days back (default: the account's history window, at least 90). */
  pastDays?: number;
  /** Days ahead (default 365). */
  futureDays?: number;
}

/** The span meetings are kept for: the account's history window back, a year ahead. Whole days, so it moves daily. */
export function syncWindow(
  account: Pick<AccountContext, 'historyDays'>,
  options: WindowOptions = {},
  now: number = Date.now(),
): TimeWindow {
  const today = Math.floor(now / DAY_MS) * DAY_MS;
  const past = options.pastDays ?? Math.max(account.historyDays, 90);
  const future = options.futureDays ?? 365;
  return { start: today - past * DAY_MS, end: today + (future + 1) * DAY_MS };
}
