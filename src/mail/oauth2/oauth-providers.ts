// What differs between the OAuth 2 providers, as data: endpoints, scopes, extra authorize parameters, and
// which id_token claim vouches for the mailbox address. The flow code (oauth-client.ts) reads only this table.
//
// Scopes, from the providers' documentation:
// - Google: `https://mail.google.com/` is the one scope for IMAP/SMTP with XOAUTH2; calendar access is
//   `https://www.googleapis.com/auth/calendar`. A Google access token covers every consented scope.
// - Microsoft: IMAP/SMTP need the Outlook resource's `IMAP.AccessAsUser.All` and `SMTP.Send` (with the
//   https://outlook.office.com/ prefix; the Graph-prefixed ones do not work for IMAP/SMTP); the calendar is
//   Graph's `Calendars.ReadWrite`; `offline_access` yields a refresh token. The /authorize request may ask
//   consent for several resources at once, but each token request gets a token for ONE resource, so the
//   token scopes are listed per audience and the calendar driver refreshes with audience 'calendar'.

export const OAUTH_PROVIDER_IDS = ['gmail', 'microsoft365', 'outlook'] as const;
/** The contract's provider ids that sign in with OAuth 2. */
export type OAuthProviderId = (typeof OAUTH_PROVIDER_IDS)[number];

/** What an access token is requested for. */
export type OAuthAudience = 'mail' | 'calendar';

/** The registered application whose credentials a provider uses (and the prefix of its env variables). */
export type OAuthClientFamily = 'GOOGLE' | 'MICROSOFT';

export interface OAuthProviderSpec {
  /** For messages: "Google rejected …". */
  displayName: string;
  client: OAuthClientFamily;
  /** Replaces `{tenant}` in the endpoint URLs; null when the URLs have none. */
  tenant: string | null;
  /** An env variable that may replace `tenant` (a single-tenant app registration needs its tenant id). */
  tenantEnv: string | null;
  defaultAuthorizeUrl: string;
  defaultTokenUrl: string;
  /** Asked for at /authorize: everything the account will need, consented to once. */
  consentScopes: readonly string[];
  /**
   * The `scope` sent with token requests, per audience. null: the provider issues one token for all
   * consented scopes and needs no scope on the token endpoint.
   */
  tokenScopes: Readonly<Record<OAuthAudience, readonly string[]>> | null;
  /** Fixed extra parameters of the authorize URL. */
  authorizeParams: Readonly<Record<string, string>>;
  /**
   * The id_token claim the provider vouches for as the signed-in mailbox's address. Only this claim counts:
   * an account's address (and so what the company relay may send as) must never come from the request.
   */
  addressClaim: 'email' | 'preferred_username';
  /** The claim counts only when the id_token also says `email_verified: true` (Google). */
  requireEmailVerified: boolean;
}

const GOOGLE_MAIL = 'https://mail.google.com/';
const GOOGLE_CALENDAR = 'https://www.googleapis.com/auth/calendar';
const OUTLOOK_IMAP = 'https://outlook.office.com/IMAP.AccessAsUser.All';
const OUTLOOK_SMTP = 'https://outlook.office.com/SMTP.Send';
const GRAPH_CALENDARS = 'https://graph.microsoft.com/Calendars.ReadWrite';

const MICROSOFT_AUTHORIZE = 'https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize';
const MICROSOFT_TOKEN = 'https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token';

function microsoft(tenant: string, tenantEnv: string | null): OAuthProviderSpec {
  return {
    displayName: 'Microsoft',
    client: 'MICROSOFT',
    tenant,
    tenantEnv,
    defaultAuthorizeUrl: MICROSOFT_AUTHORIZE,
    defaultTokenUrl: MICROSOFT_TOKEN,
    consentScopes: ['offline_access', OUTLOOK_IMAP, OUTLOOK_SMTP, 'openid', 'email', GRAPH_CALENDARS],
    tokenScopes: {
      mail: ['offline_access', OUTLOOK_IMAP, OUTLOOK_SMTP, 'openid', 'email'],
      calendar: ['offline_access', GRAPH_CALENDARS],
    },
    authorizeParams: { response_mode: 'query' },
    // `preferred_username` is the sign-in name (the UPN of a work account, whose domain the tenant had to verify;
    // the Microsoft account's address for consumers). The `email` claim is NOT used: a tenant administrator can
    // set it to any address and Microsoft does not verify it ("nOAuth").
    addressClaim: 'preferred_username',
    requireEmailVerified: false,
  };
}

export const OAUTH_PROVIDERS: Readonly<Record<OAuthProviderId, OAuthProviderSpec>> = {
  gmail: {
    displayName: 'Google',
    client: 'GOOGLE',
    tenant: null,
    tenantEnv: null,
    defaultAuthorizeUrl: 'https://accounts.google.com/o/oauth2/v2/auth',
    defaultTokenUrl: 'https://oauth2.googleapis.com/token',
    consentScopes: [GOOGLE_MAIL, 'openid', 'email', GOOGLE_CALENDAR],
    tokenScopes: null,
    // offline + consent: Google returns a refresh token only on a consent screen, so a reconnect must show it.
    authorizeParams: { access_type: 'offline', prompt: 'consent' },
    // Google's id_token carries the account address with `email_verified` (the same claims as its userinfo).
    addressClaim: 'email',
    requireEmailVerified: true,
  },
  // Work and school accounts; MICROSOFT_TENANT may narrow it to one directory (single-tenant app registrations).
  microsoft365: microsoft('organizations', 'MICROSOFT_TENANT'),
  // Personal Outlook.com / Hotmail accounts: always the consumer tenant.
  outlook: microsoft('consumers', null),
};

export function isOAuthProviderId(value: unknown): value is OAuthProviderId {
  return typeof value === 'string' && (OAUTH_PROVIDER_IDS as readonly string[]).includes(value);
}
