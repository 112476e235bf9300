// "Create this contact unless someone just did": automatic creation from mail, BCC filings, sends and meetings runs
// in several processes at once, so a contact may appear between the check and the insert. Each address becomes a
// contact or is found as one; a race is never an error. One loop for every caller.
import { AppError } from '../core/app-error.js';
import type { Db } from '../storage/database.js';
import type { ContactSource } from '../storage/schema.js';
import { createContact, takenAddresses, type ContactInput } from './contacts.js';
import { erasedAmong } from './erased-addresses.js';

export interface NewContact {
  address: string;
  firstName?: string | null;
  lastName?: string | null;
}

export interface EnsuredContacts {
  /** Contact id of every address asked for: created now, or made a moment ago by another writer. */
  ids: Map<string, string>;
  /** How many this call created. */
  created: number;
}

/** Makes each address a contact of the organisation (one contact per address), tolerating concurrent creators. */
export async function ensureContacts(
  db: Db,
  orgId: string,
  wanted: Iterable<string | NewContact>,
  source: ContactSource,
): Promise<EnsuredContacts> {
  const ids = new Map<string, string>();
  let created = 0;
  const items = [...wanted].map((item): NewContact => (typeof item === 'string' ? { address: item } : item));
  // A person erased on request (issue 19) is never made again from mail, BCC, sends or meetings.
  const erased =
    items.length > 0
      ? await erasedAmong(
          db,
          orgId,
          items.map((i) => i.address),
        )
      : new Set<string>();
  for (const input of items) {
    if (ids.has(input.address) || erased.has(input.address)) continue;
    const contact: ContactInput = { emails: [input.address] };
    if (input.firstName) contact.firstName = input.firstName;
    if (input.lastName) contact.lastName = input.lastName;
    try {
      ids.set(input.address, (await createContact(db, orgId, contact, source)).id);
      created++;
    } catch (error) {
      // Made a moment ago by another writer (another mailbox's sync, a person): a contact either way.
      if (!(error instanceof AppError && error.code === 'CONTACT_EMAIL_TAKEN')) throw error;
      const again = await takenAddresses(db, orgId, [input.address]);
      const id = again.get(input.address);
      if (id) ids.set(input.address, id);
    }
  }
  return { ids, created };
}
