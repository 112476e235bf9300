// Zoho Mail: one preset per data centre, generated from the table below, because an account only works
// against the servers of the data centre it lives in (the domain the user signs in at: mail.zoho.eu, …).
//
// Zoho documents two pairs of servers per data centre: imappro/smtppro for organisation users (an address
// at their company's own domain) and imap/smtp for personal users (@zoho.com, @zohomail.com, …). The main
// presets (`zoho`, `zoho-eu`, …) use the organisation servers: Conversa's users connect business mailboxes,
// and Zoho offers IMAP to organisations only on paid plans, which are exactly the ones on imappro/smtppro.
// Personal addresses get their own presets (`zoho-personal`, `zoho-eu-personal`, …), which the e-mail
// lookup picks for them. Source: Zoho Mail help, "IMAP Access" and "SMTP Configuration".
//
// Zoho has no app-password requirement without two-factor authentication, but with it one is needed; IMAP
// access must be turned on in the mail settings first. SMTP does not file sent mail under Sent unless the
// user enables "Save copy of sent emails" there, so whoever sends appends the copy.
import { imapsOn, smtpsOn, type ProviderPreset } from './provider-preset.js';

interface ZohoDataCentre {
  /** Appended to the preset id: `zoho-eu`. Empty for the United States (.com), whose id is plain `zoho`. */
  suffix: string;
  region: string;
  /** The data centre's domain: servers are imappro.<root>, calendar.<root>, accounts.<root>. */
  root: string;
  /** Addresses Zoho gives personal users of this data centre; a personal preset exists only when there are some. */
  personalDomains: string[];
}

export const ZOHO_DATA_CENTRES: readonly ZohoDataCentre[] = [
  { suffix: '', region: 'United States', root: 'zoho.com', personalDomains: ['zoho.com', 'zohomail.com'] },
  { suffix: 'eu', region: 'Europe', root: 'zoho.eu', personalDomains: ['zohomail.eu'] },
  { suffix: 'in', region: 'India', root: 'zoho.in', personalDomains: ['zohomail.in'] },
  { suffix: 'com-au', region: 'Australia', root: 'zoho.com.au', personalDomains: [] },
  { suffix: 'jp', region: 'Japan', root: 'zoho.jp', personalDomains: ['zohomail.jp'] },
  { suffix: 'ca', region: 'Canada', root: 'zohocloud.ca', personalDomains: [] },
  { suffix: 'sa', region: 'Saudi Arabia', root: 'zoho.sa', personalDomains: [] },
  { suffix: 'uk', region: 'United Kingdom', root: 'zoho.uk', personalDomains: [] },
  { suffix: 'ae', region: 'United Arab Emirates', root: 'zoho.ae', personalDomains: [] },
  { suffix: 'com-cn', region: 'China', root: 'zoho.com.cn', personalDomains: [] },
];

const APP_PASSWORD = {
  requiredWith2fa: true,
  instructionsUrl: 'https://help.zoho.com/portal/kb/articles/manage-application-specific-passwords',
};

const ENABLE_IMAP =
  'Turn on IMAP access first: in Zoho Mail, Settings → Mail Accounts → your address → IMAP → IMAP Access.';

function zohoPreset(dc: ZohoDataCentre, kind: 'organization' | 'personal'): ProviderPreset {
  const base = dc.suffix ? `zoho-${dc.suffix}` : 'zoho';
  const pro = kind === 'organization' ? 'pro' : '';
  const where = `${dc.region}, ${dc.root}`;
  return {
    id: kind === 'organization' ? base : `${base}-personal`,
    name: kind === 'organization' ? `Zoho Mail (${where})` : `Zoho Mail personal (${where})`,
    auth: 'password',
    imap: imapsOn(`imap${pro}.${dc.root}`),
    smtp: smtpsOn(`smtp${pro}.${dc.root}`),
    domains: kind === 'organization' ? [] : [...dc.personalDomains],
    appPassword: { ...APP_PASSWORD },
    smtpSavesSent: false,
    caldavUrl: `https://calendar.${dc.root}/caldav/`,
    calendar: 'caldav',
    help:
      (kind === 'organization'
        ? `For an address at your company's domain hosted by Zoho in the ${dc.region} data centre (you sign in at mail.${dc.root}). `
        : `For a personal Zoho address (${dc.personalDomains.map((d) => `@${d}`).join(', ')}) in the ${dc.region} data centre. `) +
      `${ENABLE_IMAP} With two-factor authentication on, use an app password from accounts.${dc.root}.`,
  };
}

export const ZOHO_PRESETS: readonly ProviderPreset[] = [
  ...ZOHO_DATA_CENTRES.map((dc) => zohoPreset(dc, 'organization')),
  ...ZOHO_DATA_CENTRES.filter((dc) => dc.personalDomains.length > 0).map((dc) => zohoPreset(dc, 'personal')),
];
