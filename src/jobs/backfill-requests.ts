// Writes each batch of new contact addresses down for the workers (jobs/account-leases.ts reads them back), so
// a contact created by any process — web, worker, import, automatic creation — gets its earlier mail found in
// every mailbox, whichever process holds it.
import { contactEvents, type AddressesAdded } from '../contacts/contact-events.js';
import type { Db } from '../storage/database.js';
import { newId } from '../storage/ids.js';

export function recordBackfillRequests(db: Db, hooks: { recorded(): void; failed(error: unknown): void }): () => void {
  const listener = (event: AddressesAdded) => {
    const now = Date.now();
    db.insertInto('backfill_requests')
      .values({ id: newId(now), org_id: event.orgId, addresses_json: JSON.stringify(event.addresses), created_at: now })
      .execute()
      .then(
        () => hooks.recorded(),
        (error: unknown) => {
          // An organisation of another database in this process (tests run several servers side by side).
          if (!/foreign key/i.test(String((error as Error)?.message))) hooks.failed(error);
        },
      );
  };
  contactEvents.on('addresses-added', listener);
  return () => contactEvents.off('addresses-added', listener);
}
