// What remains of a person erased on request (LGPD/GDPR, issue 19): the sha256 of each of their addresses, in
// erased_addresses. Every door through which an address becomes a contact asks here first (automatic creation from
// sync, the BCC address, sends and meetings through ensureContacts; a person's POST/PATCH; the CSV import), and
// since mail is stored only when a contact is in it, mail from or to only erased addresses is not stored either.
// No salt: the same hash as suppressions.address_hash, so the two tables speak of the same person; the cost is that
// someone holding the database can test a guessed address, which is all a salt per organisation would change too.
import { createHash } from 'node:crypto';
import { AppError } from '../core/app-error.js';
import type { Db as Executor } from '../storage/database.js';

export function erasedAddressHash(address: string): string {
  return createHash('sha256').update(address.trim().toLowerCase(), 'utf8').digest('hex');
}

/** The addresses (as given) among `addresses` that belong to an erased person of the organisation. */
export async function erasedAmong(db: Executor, orgId: string, addresses: Iterable<string>): Promise<Set<string>> {
  const byHash = new Map<string, string[]>();
  for (const address of addresses) {
    const hash = erasedAddressHash(address);
    byHash.set(hash, [...(byHash.get(hash) ?? []), address]);
  }
  const found = new Set<string>();
  const hashes = [...byHash.keys()];
  // 500 at a time: far below both dialects' limit on bound parameters.
  for (let i = 0; i < hashes.length; i += 500) {
    const rows = await db
      .selectFrom('erased_addresses')
      .select('address_hash')
      .where('org_id', '=', orgId)
      .where('address_hash', 'in', hashes.slice(i, i + 500))
      .execute();
    for (const row of rows) for (const address of byHash.get(row.address_hash) ?? []) found.add(address);
  }
  return found;
}

/** A person may not give an erased address back to a contact: refused with CONTACT_ADDRESS_ERASED (409). */
export async function refuseErased(db: Executor, orgId: string, addresses: string[]): Promise<void> {
  const erased = await erasedAmong(db, orgId, addresses);
  if (erased.size > 0) {
    throw new AppError('CONTACT_ADDRESS_ERASED', 'This address belonged to a contact erased on request', {
      details: { addresses: [...erased] },
    });
  }
}
