// Announces new contact addresses (created by hand, by import or automatically) once they are committed, so
// the sync engine can look for their earlier mail. The composition root subscribes; domain code only emits.
import { EventEmitter } from 'node:events';

export interface AddressesAdded {
  orgId: string;
  addresses: string[];
}

class ContactEvents extends EventEmitter<{ 'addresses-added': [AddressesAdded] }> {}

export const contactEvents = new ContactEvents();

export function announceAddresses(orgId: string, addresses: string[]): void {
  if (addresses.length > 0) contactEvents.emit('addresses-added', { orgId, addresses });
}
