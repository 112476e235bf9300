// Gmail (and Google Workspace mail when the user picks it): OAuth 2 with XOAUTH2 on IMAP and SMTP; the
// calendar goes through the Google Calendar API. Sources: Google's "Read Gmail messages on other email
// clients using POP/IMAP" and "Sign in with app passwords" help pages.
import { imapsOn, smtpsOn, type ProviderPreset } from './provider-preset.js';

export const GMAIL: ProviderPreset = {
  id: 'gmail',
  name: 'Gmail',
  auth: 'oauth2',
  oauth: 'google',
  imap: imapsOn('imap.gmail.com'),
  smtp: smtpsOn('smtp.gmail.com'),
  domains: ['gmail.com', 'googlemail.com'],
  // Google no longer takes the account password from mail programs; an app password (which needs 2-Step
  // Verification) is the only alternative to signing in with Google.
  appPassword: { requiredWith2fa: false, instructionsUrl: 'https://support.google.com/accounts/answer/185833' },
  // Gmail files every message sent through smtp.gmail.com under "Sent Mail" itself.
  smtpSavesSent: true,
  caldavUrl: null,
  calendar: 'google',
  help:
    'For Gmail and Google Workspace addresses. Sign in with Google (recommended). ' +
    'If you connect with a password instead, it must be an app password, which needs 2-Step Verification on your Google account.',
};

export const GOOGLE_PRESETS: readonly ProviderPreset[] = [GMAIL];
