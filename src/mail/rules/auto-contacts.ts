// Which addresses of a synced message become new contacts when the user's automatic contact creation is on
// (product.md §3). The caller checks the setting; this decides per message, given what the database knows.
import { isValidEmail, normalizeEmail } from '../../contacts/email-address.js';
import { isMachineAddress } from './machine-senders.js';
import { isNeverLogged, type NeverLogList } from './never-log.js';
import type { Participant } from './participants.js';

export interface AutoCreateInput {
  direction: 'incoming' | 'outgoing';
  participants: readonly Pick<Participant, 'role' | 'address'>[];
  /**
   * Every address of the user: the mailbox's, its aliases and send-as addresses — and the account's BCC dropbox
   * address, which stands in Bcc of mail the user copies to the CRM.
   */
  ownAddresses: readonly string[];
  /** Addresses that already belong to a contact of the organisation, lower-cased. */
  existingContactAddresses: ReadonlySet<string>;
  neverLog: NeverLogList;
  /** {@link isMachineMessage} of the message: auto-replies, bulk and list mail. */
  machineMessage: boolean;
}

// product.md: "a contact is created for every new address that … stands in To/Cc/Bcc of a received or sent
// e-mail". Taken literally: From, Reply-To and Sender never create a contact, not even the From of received mail —
// receiving mail from a stranger (a cold pitch, a phishing attempt) does not make them a contact; the user's reply
// puts them in To, and that creates them.
const CREATING_ROLES: ReadonlySet<Participant['role']> = new Set(['to', 'cc', 'bcc']);

/** `ana+crm@x.com` → `ana@x.com`: a subaddress delivers to the same mailbox, so it is the user's too. */
function withoutTag(address: string): string {
  return address.replace(/^([^@+]+)\+[^@]*@/, '$1@');
}

/**
 * The addresses to create contacts for, lower-cased, without repeats, in header order: every address in
 * To/Cc/Bcc that is valid, not the user's own (nor a +tagged form of one), not yet a contact, not a machine's ({@link
 * isMachineAddress}) and
 * not on the never-log list. Nothing at all for incoming mail that is a machine message (a list post, a
 * newsletter, an auto-reply: its recipients are a crowd or the user). Outgoing mail is judged by its addresses
 * only, as the user chose to write to them.
 */
export function addressesToAutoCreate(input: AutoCreateInput): string[] {
  if (input.direction === 'incoming' && input.machineMessage) return [];
  const own = new Set(input.ownAddresses.map((a) => withoutTag(normalizeEmail(a))));
  const result = new Set<string>();
  for (const participant of input.participants) {
    if (!CREATING_ROLES.has(participant.role)) continue;
    const address = normalizeEmail(participant.address);
    if (result.has(address) || !isValidEmail(address)) continue;
    if (own.has(withoutTag(address)) || input.existingContactAddresses.has(address)) continue;
    if (isMachineAddress(address) || isNeverLogged(address, input.neverLog)) continue;
    result.add(address);
  }
  return [...result];
}
