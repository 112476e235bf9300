// Microsoft 365 (work and school accounts, Exchange Online) and Outlook.com (personal Microsoft accounts):
// the same IMAP server, OAuth 2 with XOAUTH2 against different tenants, and the calendar through Microsoft
// Graph. Basic authentication (passwords, app passwords) is switched off for IMAP/SMTP on both, so neither
// has an app-password hint. Sources: Microsoft's "POP, IMAP, and SMTP settings for Outlook.com" and
// "Authenticate an IMAP, POP or SMTP connection using OAuth".
import { imapsOn, submissionOn, type ProviderPreset } from './provider-preset.js';

const CHOOSE =
  'Microsoft 365 or Outlook? A personal Microsoft account (an @outlook.com, @hotmail.com, @live.com or @msn.com ' +
  "address, or one you signed up to Outlook.com with) → choose Outlook. Business mail at your company's own domain, " +
  'managed by your organisation in Microsoft 365 → choose Microsoft 365.';

export const MICROSOFT_365: ProviderPreset = {
  id: 'microsoft365',
  name: 'Microsoft 365',
  auth: 'oauth2',
  oauth: 'microsoft-organizations',
  imap: imapsOn('outlook.office365.com'),
  // Exchange Online takes SMTP AUTH on 587 with STARTTLS only.
  smtp: submissionOn('smtp.office365.com'),
  // Company domains can't be told apart without DNS; only the tenant's initial domain gives it away.
  domains: ['*.onmicrosoft.com'],
  appPassword: null,
  // Exchange keeps a copy of what is sent through SMTP AUTH in Sent Items.
  smtpSavesSent: true,
  caldavUrl: null,
  calendar: 'microsoft',
  help: `For work or school accounts. ${CHOOSE} If sign-in is refused, your administrator may need to allow IMAP and SMTP AUTH for your mailbox.`,
};

export const OUTLOOK: ProviderPreset = {
  id: 'outlook',
  name: 'Outlook',
  auth: 'oauth2',
  oauth: 'microsoft-consumers',
  imap: imapsOn('outlook.office365.com'),
  smtp: submissionOn('smtp-mail.outlook.com'),
  domains: [
    'outlook.com', 'hotmail.com', 'live.com', 'msn.com', 'windowslive.com', 'passport.com',
    // Brazil and the rest of Latin America
    'outlook.com.br', 'hotmail.com.br', 'live.com.br', 'outlook.com.ar', 'hotmail.com.ar', 'live.com.ar',
    'outlook.cl', 'hotmail.cl', 'live.cl', 'live.com.mx', 'hotmail.es', 'outlook.es', 'outlook.pt', 'live.com.pt',
    // Europe
    'hotmail.co.uk', 'live.co.uk', 'outlook.de', 'hotmail.de', 'live.de', 'outlook.fr', 'hotmail.fr', 'live.fr',
    'outlook.it', 'hotmail.it', 'live.it', 'outlook.at', 'live.at', 'outlook.be', 'hotmail.be', 'live.be',
    'hotmail.nl', 'live.nl', 'outlook.dk', 'hotmail.dk', 'live.dk', 'hotmail.se', 'live.se', 'hotmail.no', 'live.no',
    'hotmail.fi', 'live.fi', 'outlook.ie', 'live.ie', 'outlook.cz', 'hotmail.cz', 'outlook.sk', 'hotmail.sk',
    'outlook.hu', 'hotmail.hu', 'outlook.lv', 'hotmail.lv', 'hotmail.lt', 'hotmail.gr', 'outlook.com.gr',
    'hotmail.rs', 'live.ru', 'outlook.com.tr', 'hotmail.com.tr',
    // Elsewhere
    'hotmail.ca', 'live.ca', 'outlook.com.au', 'hotmail.com.au', 'live.com.au', 'outlook.in', 'live.in',
    'hotmail.co.in', 'outlook.jp', 'live.jp', 'hotmail.co.jp', 'live.co.jp', 'outlook.kr', 'hotmail.co.kr',
    'live.co.kr', 'outlook.sg', 'hotmail.sg', 'live.com.sg', 'outlook.my', 'hotmail.my', 'live.com.my',
    'outlook.ph', 'hotmail.ph', 'live.com.ph', 'outlook.co.id', 'hotmail.co.id', 'outlook.co.il', 'hotmail.co.il',
    'outlook.co.th', 'hotmail.co.th', 'outlook.com.vn', 'hotmail.com.vn', 'hotmail.com.hk', 'live.hk',
    'hotmail.com.tw', 'livemail.tw', 'live.cn', 'outlook.sa', 'hotmail.co.za', 'live.co.za',
  ],
  appPassword: null,
  smtpSavesSent: true,
  caldavUrl: null,
  calendar: 'microsoft',
  help: `For personal Microsoft accounts. ${CHOOSE}`,
};

export const MICROSOFT_PRESETS: readonly ProviderPreset[] = [MICROSOFT_365, OUTLOOK];
