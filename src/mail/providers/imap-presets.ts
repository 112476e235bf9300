// Providers reached with e-mail and password over plain IMAP/SMTP, with the hosts and ports their own help
// pages give (cross-checked against Thunderbird's ISPDB). None of them files SMTP-submitted mail under Sent
// by itself, so the sender appends the copy. Yahoo, AOL, iCloud and Fastmail take only app passwords from
// mail programs; GMX, Yandex want one once two-step verification is on.
import { imapsOn, smtpsOn, submissionOn, type ProviderPreset } from './provider-preset.js';

export const YAHOO: ProviderPreset = {
  id: 'yahoo',
  name: 'Yahoo Mail',
  auth: 'password',
  imap: imapsOn('imap.mail.yahoo.com'),
  smtp: smtpsOn('smtp.mail.yahoo.com'),
  // No `yahoo.*` pattern: yahoo.co.jp belongs to Yahoo Japan, a different service with other servers.
  domains: [
    'yahoo.com',
    'yahoo.com.br',
    'ymail.com',
    'rocketmail.com',
    'yahoo.com.ar',
    'yahoo.com.mx',
    'yahoo.cl',
    'yahoo.co.uk',
    'yahoo.ca',
    'yahoo.de',
    'yahoo.fr',
    'yahoo.es',
    'yahoo.it',
    'yahoo.se',
    'yahoo.ie',
    'yahoo.com.au',
    'yahoo.co.nz',
    'yahoo.in',
    'yahoo.co.in',
    'yahoo.com.sg',
    'yahoo.com.ph',
    'yahoo.com.hk',
    'yahoo.com.tw',
    'yahoo.co.id',
  ],
  appPassword: { requiredWith2fa: false, instructionsUrl: 'https://help.yahoo.com/kb/SLN15241.html' },
  smtpSavesSent: false,
  caldavUrl: 'https://caldav.calendar.yahoo.com',
  calendar: 'caldav',
  help: 'Yahoo accepts only an app password from mail programs: create one in your Yahoo Account Security page and use it here.',
};

export const ICLOUD: ProviderPreset = {
  id: 'icloud',
  name: 'iCloud Mail',
  auth: 'password',
  imap: imapsOn('imap.mail.me.com'),
  smtp: submissionOn('smtp.mail.me.com'),
  domains: ['icloud.com', 'me.com', 'mac.com'],
  appPassword: { requiredWith2fa: false, instructionsUrl: 'https://support.apple.com/en-us/102654' },
  smtpSavesSent: false,
  caldavUrl: 'https://caldav.icloud.com',
  calendar: 'caldav',
  help:
    'iCloud needs an app-specific password (Apple Account → Sign-In and Security → App-Specific Passwords). ' +
    'If your full address is refused as the username, try only the part before the @.',
};

export const FASTMAIL: ProviderPreset = {
  id: 'fastmail',
  name: 'Fastmail',
  auth: 'password',
  imap: imapsOn('imap.fastmail.com'),
  smtp: smtpsOn('smtp.fastmail.com'),
  domains: [
    'fastmail.*',
    'fastmail.com',
    'fastmail.fm',
    'fastmail.com.au',
    'fastmail.co.uk',
    'fastmail.de',
    'fastmail.net',
    'fastmail.us',
    'messagingengine.com',
    'sent.com',
    'sent.as',
    'sent.at',
    'fastem.com',
    'mailbolt.com',
    'mm.st',
    'eml.cc',
    'fea.st',
    'f-m.fm',
    'ftml.net',
    'imap.cc',
    'warpmail.net',
    'xsmail.com',
    '123mail.org',
    'airpost.net',
  ],
  appPassword: {
    requiredWith2fa: false,
    instructionsUrl: 'https://www.fastmail.help/hc/en-us/articles/360058752854-App-passwords',
  },
  smtpSavesSent: false,
  caldavUrl: 'https://caldav.fastmail.com/dav/',
  calendar: 'caldav',
  help: 'Fastmail needs an app password with access to Mail (and Calendars, for meetings): Settings → Privacy & Security → App passwords.',
};

export const AOL: ProviderPreset = {
  id: 'aol',
  name: 'AOL Mail',
  auth: 'password',
  imap: imapsOn('imap.aol.com'),
  smtp: smtpsOn('smtp.aol.com'),
  domains: [
    'aol.com',
    'aim.com',
    'aol.com.br',
    'aol.com.ar',
    'aol.com.mx',
    'aol.co.uk',
    'aol.de',
    'aol.fr',
    'aol.it',
    'aol.es',
    'aol.se',
    'aol.co.nz',
    'aol.com.au',
    'netscape.net',
    'compuserve.com',
    'cs.com',
    'wmconnect.com',
  ],
  appPassword: {
    requiredWith2fa: false,
    instructionsUrl: 'https://help.aol.com/articles/Create-and-manage-app-password',
  },
  smtpSavesSent: false,
  caldavUrl: null,
  calendar: null,
  help: 'AOL accepts only an app password from mail programs: create one in your AOL Account Security page and use it here.',
};

const GMX_IMAP_HELP = 'Allow access by POP3 & IMAP once in the GMX e-mail settings.';

/** GMX's international service (gmx.com and most country domains). */
export const GMX: ProviderPreset = {
  id: 'gmx',
  name: 'GMX (gmx.com)',
  auth: 'password',
  imap: imapsOn('imap.gmx.com'),
  smtp: smtpsOn('mail.gmx.com'),
  domains: [
    'gmx.*',
    'gmx.com',
    'gmx.us',
    'gmx.co.uk',
    'gmx.fr',
    'gmx.es',
    'gmx.it',
    'gmx.com.br',
    'gmx.pt',
    'gmx.ca',
    'gmx.ie',
    'gmx.se',
    'gmx.tm',
    'gmx.co.in',
    'gmx.com.my',
    'gmx.ph',
    'gmx.sg',
    'gmx.hk',
    'gmx.tw',
    'gmx.li',
  ],
  appPassword: {
    requiredWith2fa: true,
    instructionsUrl: 'https://support.gmx.com/security/2fa/application-specific-passwords.html',
  },
  smtpSavesSent: false,
  caldavUrl: 'https://caldav.gmx.com/',
  calendar: 'caldav',
  help: `${GMX_IMAP_HELP} Addresses at gmx.net, gmx.de, gmx.at or gmx.ch use the "GMX (gmx.net)" choice.`,
};

/** GMX's German-speaking service: same company, different servers. */
export const GMX_NET: ProviderPreset = {
  id: 'gmx-net',
  name: 'GMX (gmx.net, gmx.de, gmx.at, gmx.ch)',
  auth: 'password',
  imap: imapsOn('imap.gmx.net'),
  smtp: smtpsOn('mail.gmx.net'),
  domains: ['gmx.net', 'gmx.de', 'gmx.at', 'gmx.ch', 'gmx.eu', 'gmx.biz', 'gmx.org', 'gmx.info'],
  appPassword: {
    requiredWith2fa: true,
    instructionsUrl: 'https://hilfe.gmx.net/sicherheit/2fa/anwendungsspezifisches-passwort.html',
  },
  smtpSavesSent: false,
  caldavUrl: 'https://caldav.gmx.net/',
  calendar: 'caldav',
  help: GMX_IMAP_HELP,
};

export const YANDEX: ProviderPreset = {
  id: 'yandex',
  name: 'Yandex Mail',
  auth: 'password',
  imap: imapsOn('imap.yandex.com'),
  smtp: smtpsOn('smtp.yandex.com'),
  domains: [
    'yandex.*',
    'yandex.ru',
    'yandex.com',
    'ya.ru',
    'yandex.by',
    'yandex.kz',
    'yandex.ua',
    'yandex.com.tr',
    'narod.ru',
  ],
  appPassword: {
    requiredWith2fa: true,
    instructionsUrl: 'https://yandex.com/support/passport/authorization/app-passwords.html',
  },
  smtpSavesSent: false,
  caldavUrl: 'https://caldav.yandex.ru/',
  calendar: 'caldav',
  help: 'Allow access by mail programs (IMAP) first, in the Yandex Mail settings under "Mail clients".',
};

// Brazilian providers. UOL and BOL (the same company) submit on smtps.* port 587 with STARTTLS.
export const UOL: ProviderPreset = {
  id: 'uol',
  name: 'UOL Mail',
  auth: 'password',
  imap: imapsOn('imap.uol.com.br'),
  smtp: submissionOn('smtps.uol.com.br'),
  domains: ['uol.com.br'],
  appPassword: null,
  smtpSavesSent: false,
  caldavUrl: null,
  calendar: null,
};

export const BOL: ProviderPreset = {
  id: 'bol',
  name: 'BOL Mail',
  auth: 'password',
  imap: imapsOn('imap.bol.com.br'),
  smtp: submissionOn('smtps.bol.com.br'),
  domains: ['bol.com.br'],
  appPassword: null,
  smtpSavesSent: false,
  caldavUrl: null,
  calendar: null,
};

export const TERRA: ProviderPreset = {
  id: 'terra',
  name: 'Terra Mail',
  auth: 'password',
  imap: imapsOn('imap.terra.com.br'),
  smtp: submissionOn('smtp.terra.com.br'),
  domains: ['terra.com.br'],
  appPassword: null,
  smtpSavesSent: false,
  caldavUrl: null,
  calendar: null,
};

export const IMAP_PRESETS: readonly ProviderPreset[] = [
  YAHOO,
  ICLOUD,
  FASTMAIL,
  AOL,
  GMX,
  GMX_NET,
  YANDEX,
  UOL,
  BOL,
  TERRA,
];
