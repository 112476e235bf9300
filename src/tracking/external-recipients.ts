// Who is outside the organisation: only they get the tracked copy (colleagues are never tracked). Internal is an
// address of a user or a mailbox of the organisation (organisationAddresses, passed in), or any address on the
// sender's own domain — unless that domain is a public webmail domain, where sharing it says nothing.

/** Domains many unrelated people share: the sender's domain being one of them makes nobody a colleague. */
export const PUBLIC_MAIL_DOMAINS = new Set([
  'gmail.com',
  'googlemail.com',
  'outlook.com',
  'hotmail.com',
  'live.com',
  'msn.com',
  'yahoo.com',
  'yahoo.com.br',
  'ymail.com',
  'icloud.com',
  'me.com',
  'mac.com',
  'aol.com',
  'proton.me',
  'protonmail.com',
  'gmx.com',
  'gmx.de',
  'gmx.net',
  'web.de',
  'yandex.com',
  'yandex.ru',
  'mail.ru',
  'zoho.com',
  'fastmail.com',
  'uol.com.br',
  'bol.com.br',
  'terra.com.br',
  'ig.com.br',
  'hotmail.com.br',
  'outlook.com.br',
  'live.com.br',
  'qq.com',
  '163.com',
]);

function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : address.slice(at + 1).toLowerCase();
}

/** The recipients (lower-cased addresses) outside the organisation, in their order, without duplicates. */
export function externalRecipients(
  recipients: string[],
  options: { organisationAddresses: Set<string>; senderAddress: string },
): string[] {
  const senderDomain = domainOf(options.senderAddress);
  const ownDomain = senderDomain !== '' && !PUBLIC_MAIL_DOMAINS.has(senderDomain) ? senderDomain : null;
  const out = new Set<string>();
  for (const raw of recipients) {
    const address = raw.toLowerCase();
    if (options.organisationAddresses.has(address)) continue;
    if (ownDomain !== null && domainOf(address) === ownDomain) continue;
    out.add(address);
  }
  return [...out];
}
