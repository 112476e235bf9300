// Mail written by programs rather than people: the addresses (no-reply, mailer-daemon, bounce and tracking
// addresses of sending platforms) and the messages (auto-replies, bulk and list mail). No contact is ever created
// automatically for them. A heuristic with a bias: when unsure, an address is a person — shared human inboxes
// like info@, contato@, support@, sales@ are answered by people and are often exactly the contact a CRM wants.

// Words that make a local part a machine's, compared against each run of 1–4 consecutive words of the local part
// with separators removed and trailing digits dropped: "no-reply", "do_not_reply", "comments-noreply",
// "nao.responda", "bounce123", "calendar-notification" all hit; "bruno.reply" and "newton" do not.
const MACHINE_WORDS = new Set([
  // Replies go nowhere.
  'noreply',
  'donotreply',
  'dontreply',
  'donotrespond',
  'noresponse',
  'norespond',
  'naoresponda',
  'naoresponder',
  'naorespondaestemail',
  'naoresponde', // Portuguese
  'noresponder',
  'noresponda',
  'norespondas', // Spanish
  'nepasrepondre',
  'nichtantworten',
  'keineantwort',
  'nonrispondere',
  // Delivery machinery.
  'mailerdaemon',
  'maildaemon',
  'postmaster',
  'bounce',
  'bounces',
  'autoreply',
  'autoresponder',
  'listserv',
  'majordomo',
  'mailman',
  'sympa',
  // Notices, alerts and newsletters.
  'notification',
  'notifications',
  'notify',
  'notificacao',
  'notificacoes',
  'notificacion',
  'notificaciones',
  'benachrichtigung',
  'alert',
  'alerts',
  'alerta',
  'alertas',
  'news',
  'newsletter',
  'newsletters',
  'calendarnotification',
]);

// Whole local parts that are a program's, though as one word among others they may be a person's (Norman Mailer).
const MACHINE_LOCALS = new Set(['mailer', 'automailer', 'robot', 'daemon', 'cron', 'root']);

// Words a local part may start with to be a machine's even with more letters glued on ("noreply2fa", "bounces-12").
const MACHINE_PREFIXES = ['noreply', 'donotreply', 'mailerdaemon', 'naoresponda', 'naoresponder'];

// A domain label (or a hyphen-separated part of one) with these names belongs to sending infrastructure:
// bounce.linkedin.com, pm-bounces.example.com, 1234.bounces.google.com, users.noreply.github.com.
const MACHINE_DOMAIN_WORDS = new Set([
  'bounce',
  'bounces',
  'noreply',
  'donotreply',
  'mailer-daemon',
  'notifications',
  'notification',
]);

// Domains that only ever carry platform mail (return paths, tracking and bounce addresses), never a person's:
// the sending platforms' infrastructure domains, not their company domains (sendgrid.net, not sendgrid.com).
const MACHINE_DOMAINS = [
  'amazonses.com',
  'sendgrid.net',
  'mailgun.org',
  'mandrillapp.com',
  'mcsv.net',
  'mcdlv.net',
  'rsgsv.net',
  'sparkpostmail.com',
  'createsend.com',
  'mktomail.com',
  'bnc.salesforce.com',
  'exacttarget.com',
];
const CMAIL_DOMAIN = /(?:^|\.)cmail\d+\.com$/; // Campaign Monitor

const TICKET_TAG = /^(?:id|t|ticket|case|req|request|reply|msg|m|r)[-_.]?[a-z0-9]*\d{3,}[a-z0-9]*$/;

function words(text: string): string[] {
  return text.split(/[-_.+=]+/).filter((w) => w.length > 0);
}

function hasMachineWord(local: string): boolean {
  const parts = words(local).map((w) => w.replace(/\d+$/, ''));
  for (let i = 0; i < parts.length; i++) {
    let joined = '';
    for (let j = i; j < Math.min(parts.length, i + 4); j++) {
      joined += parts[j];
      if (MACHINE_WORDS.has(joined)) return true;
    }
  }
  const flat = parts.join('');
  return MACHINE_PREFIXES.some((p) => flat.startsWith(p));
}

/** A run of random-looking characters: long hex, or a long mix of letters and digits (base64, ids). */
function looksGenerated(text: string, minChunk = 20): boolean {
  if (/[0-9a-f]{16,}/i.test(text)) return true;
  return text.split(/[-_.+=]+/).some((chunk) => chunk.length >= minChunk && /\d/.test(chunk) && /[a-z]/i.test(chunk));
}

/**
 * Whether an address belongs to a program: no-reply and its translations, mailer-daemon, postmaster,
 * bounce(s) and bounce+…, notifications, alerts, news/newsletter, list servers; bounce and notification
 * domains (`*@bounce.*`, `*@*.bounces.google.com`) and the infrastructure domains of sending platforms (Amazon
 * SES, SendGrid, Mailgun, Mailchimp/Mandrill, SparkPost…); VERP and tracking addresses — an `=` in the local part
 * with a generated-looking part or an encoded `user=domain` (`list-bounces+ana=x.com@…`), a long hex/base64 run,
 * or a ticket/reply subaddress (`support+id1234@…`, `reply+AB12CD…@reply.github.com`).
 * Not machine: info@, contato@, support@, sales@, contact@ — shared inboxes that people answer.
 */
export function isMachineAddress(address: string): boolean {
  const value = address.trim().toLowerCase();
  const at = value.lastIndexOf('@');
  if (at <= 0 || at === value.length - 1) return false;
  const local = value.slice(0, at);
  const domain = value.slice(at + 1);
  const [base = '', ...tags] = local.split('+');
  const tag = tags.join('+');

  if (MACHINE_LOCALS.has(base) || hasMachineWord(base)) return true;
  // A ticket or reply-routing subaddress: the tag is an id ("id1234", "ticket-5678", "123456", a generated run).
  // A person's own tags ("ana+crm", "ana+2024") are not.
  if (tag && (TICKET_TAG.test(tag) || /^\d{6,}$/.test(tag) || looksGenerated(tag))) return true;
  // VERP/SRS/BATV: an address encoded into the local part ("…+ana=cliente.com", "SRS0=…=x.com=ana"), or an '='
  // beside a generated run ("prvs=1a2b3c4d5e=…"): people's addresses carry neither.
  if (local.includes('=') && (/=[a-z0-9-]+(?:\.[a-z0-9-]+)+(?:=|$)/.test(local) || looksGenerated(local, 10)))
    return true;
  if (looksGenerated(local)) return true;

  const labels = domain.split('.');
  // Labels left of the registrable name only: bounce.linkedin.com is a machine, a company at bounce.io is not.
  if (
    labels
      .slice(0, -2)
      .some((label) => MACHINE_DOMAIN_WORDS.has(label) || label.split('-').some((w) => MACHINE_DOMAIN_WORDS.has(w)))
  )
    return true;
  if (MACHINE_DOMAINS.some((d) => domain === d || domain.endsWith(`.${d}`))) return true;
  return CMAIL_DOMAIN.test(domain);
}

export type HeaderValue = string | readonly string[] | null | undefined;

export interface MachineMessageInput {
  /** Auto-Submitted (RFC 3834). */
  autoSubmitted?: HeaderValue;
  /** Precedence (may occur more than once, as Sympa writes it). */
  precedence?: HeaderValue;
  /** List-Id (RFC 2919). */
  listId?: HeaderValue;
  /** Any other headers, by name in any case, for the signals below. */
  headers?: Readonly<Record<string, HeaderValue>>;
}

function values(value: HeaderValue): string[] {
  if (value == null) return [];
  return (typeof value === 'string' ? [value] : [...value]).map((v) => v.trim()).filter((v) => v.length > 0);
}

/**
 * Whether a message was sent by a program or to a crowd: Auto-Submitted anything but "no" (auto-replied,
 * auto-generated, auto-notified), Precedence bulk/list/junk/auto_reply, a List-Id; among `headers`, also
 * List-Unsubscribe (bulk senders must send it), X-Autoreply/X-Autorespond, X-Mailing-List/Mailing-List, and a
 * Content-Type of multipart/report (bounces, delivery delays, read receipts).
 * The subject is not read: "Automatic reply:" / "Resposta automática:" without headers is left to the caller.
 */
export function isMachineMessage(input: MachineMessageInput): boolean {
  if (values(input.autoSubmitted).some((v) => v.split(/[;(]/)[0]!.trim().toLowerCase() !== 'no')) return true;
  if (values(input.precedence).some((v) => ['bulk', 'list', 'junk', 'auto_reply'].includes(v.toLowerCase())))
    return true;
  if (values(input.listId).length > 0) return true;
  const headers = new Map(
    Object.entries(input.headers ?? {}).map(([name, value]) => [name.toLowerCase(), values(value)]),
  );
  const has = (name: string): boolean => (headers.get(name)?.length ?? 0) > 0;
  if (headers.get('auto-submitted')?.some((v) => v.split(/[;(]/)[0]!.trim().toLowerCase() !== 'no')) return true;
  if (headers.get('precedence')?.some((v) => ['bulk', 'list', 'junk', 'auto_reply'].includes(v.toLowerCase())))
    return true;
  // Delivery and read reports (RFC 3462/6522): written by a mail server or a mail program, never by a person.
  if (headers.get('content-type')?.some((v) => /^\s*multipart\/report\b/i.test(v))) return true;
  return ['list-id', 'list-unsubscribe', 'x-autoreply', 'x-autorespond', 'x-mailing-list', 'mailing-list'].some(has);
}
