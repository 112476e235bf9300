// The invitation a booking mails (RFC 5546 iTIP): METHOD:REQUEST for a new or moved booking, METHOD:CANCEL with
// STATUS:CANCELLED for a cancelled one; one UID for the booking's whole life and SEQUENCE going up with every
// change, times in UTC, the owner as ORGANIZER and the invitee as ATTENDEE (NEEDS-ACTION, RSVP) — what Google,
// Outlook and Apple Mail need to show it as an invitation and to update or remove the event they added.
import ICAL from 'ical.js';
import { normalizeEmail } from '../../contacts/email-address.js';
import { PRODID } from '../ical/build-event.js';

export interface Invitation {
  method: 'REQUEST' | 'CANCEL';
  uid: string;
  sequence: number;
  start: number;
  end: number;
  title: string;
  description?: string | null;
  organizer: { address: string; name?: string | null };
  attendee: { address: string; name?: string | null };
  now?: number;
}

function utc(ms: number) {
  return ICAL.Time.fromJSDate(new Date(ms), true);
}

export function buildInvitationIcs(invite: Invitation): string {
  const calendar = new ICAL.Component('vcalendar');
  calendar.addPropertyWithValue('prodid', PRODID);
  calendar.addPropertyWithValue('version', '2.0');
  calendar.addPropertyWithValue('calscale', 'GREGORIAN');
  calendar.addPropertyWithValue('method', invite.method);
  const event = new ICAL.Component('vevent', calendar);
  event.addPropertyWithValue('uid', invite.uid);
  event.addPropertyWithValue('sequence', invite.sequence);
  event.addPropertyWithValue('dtstamp', utc(invite.now ?? Date.now()));
  event.addPropertyWithValue('dtstart', utc(invite.start));
  event.addPropertyWithValue('dtend', utc(invite.end));
  event.addPropertyWithValue('summary', invite.title);
  if (invite.description) event.addPropertyWithValue('description', invite.description);
  event.addPropertyWithValue('status', invite.method === 'CANCEL' ? 'CANCELLED' : 'CONFIRMED');
  event.addPropertyWithValue('transp', 'OPAQUE');
  const organizer = new ICAL.Property('organizer', event);
  if (invite.organizer.name) organizer.setParameter('cn', invite.organizer.name);
  organizer.setValue(`mailto:${normalizeEmail(invite.organizer.address)}`);
  event.addProperty(organizer);
  const attendee = new ICAL.Property('attendee', event);
  if (invite.attendee.name) attendee.setParameter('cn', invite.attendee.name);
  attendee.setParameter('cutype', 'INDIVIDUAL');
  attendee.setParameter('role', 'REQ-PARTICIPANT');
  attendee.setParameter('partstat', 'NEEDS-ACTION');
  attendee.setParameter('rsvp', 'TRUE');
  attendee.setValue(`mailto:${normalizeEmail(invite.attendee.address)}`);
  event.addProperty(attendee);
  calendar.addSubcomponent(event);
  return calendar.toString();
}
