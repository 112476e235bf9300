// Every address of the organisation's own people: users, their mailboxes (and login names that are addresses)
// and the mailboxes' BCC addresses. Mail from one of them is the organisation's outgoing mail, and none of them
// ever becomes a contact — the one rule shared by sync, sending, the BCC dropbox and calendar sync.
import { normalizeEmail } from '../../contacts/email-address.js';
import type { Db } from '../../storage/database.js';

export async function organisationAddresses(db: Db, orgId: string, bccDomain: string): Promise<Set<string>> {
  const [accounts, users] = await Promise.all([
    db.selectFrom('email_accounts').select(['email', 'username', 'bcc_token']).where('org_id', '=', orgId).execute(),
    db.selectFrom('users').select('email').where('org_id', '=', orgId).execute(),
  ]);
  const own = new Set<string>(users.map((u) => normalizeEmail(u.email)));
  for (const a of accounts) {
    own.add(normalizeEmail(a.email));
    if (a.username.includes('@')) own.add(normalizeEmail(a.username));
    own.add(`${a.bcc_token}@${bccDomain}`);
  }
  return own;
}
