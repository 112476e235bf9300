// The catalogue of provider presets and the e-mail → preset lookup. The presets themselves live in one file
// per provider family; this module only gathers them, guards against mistakes in the data, and answers
// questions. No DNS: a domain nobody listed gets the `other` preset with guessed imap./smtp. hosts, which the
// user can always edit (custom domains on Google Workspace, Microsoft 365 or Zoho look like this too).
import { normalizeEmail } from '../../contacts/email-address.js';
import { GOOGLE_PRESETS } from './google-presets.js';
import { IMAP_PRESETS } from './imap-presets.js';
import { MICROSOFT_PRESETS } from './microsoft-presets.js';
import { imapsOn, submissionOn, type ProviderPreset } from './provider-preset.js';
import { ZOHO_PRESETS } from './zoho-presets.js';

export type { AppPasswordPolicy, ProviderPreset, ServerEndpoint } from './provider-preset.js';

export const OTHER_PROVIDER_ID = 'other';

export const OTHER: ProviderPreset = {
  id: OTHER_PROVIDER_ID,
  name: 'Other (IMAP/SMTP)',
  auth: 'password',
  imap: imapsOn(''),
  smtp: submissionOn(''),
  domains: [],
  appPassword: null,
  smtpSavesSent: false,
  caldavUrl: null,
  calendar: 'caldav',
  help:
    'Any provider with IMAP and SMTP. Enter the receiving (IMAP) and sending (SMTP) servers your provider gives; ' +
    'usually IMAP on port 993 with SSL/TLS, and SMTP on 465 with SSL/TLS or on 587 with STARTTLS.',
};

export type LookedUpProvider = ProviderPreset & { matched: boolean };

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

const ALL: readonly ProviderPreset[] = deepFreeze([
  ...GOOGLE_PRESETS,
  ...MICROSOFT_PRESETS,
  ...ZOHO_PRESETS,
  ...IMAP_PRESETS,
  OTHER,
]);

const BY_ID = new Map<string, ProviderPreset>();
/** Exact domain → preset. */
const BY_DOMAIN = new Map<string, ProviderPreset>();
/** `name.*`: the first label, under any suffix. */
const BY_FIRST_LABEL = new Map<string, ProviderPreset>();
/** `*.parent`: any name under the parent domain. */
const BY_PARENT: Array<{ parent: string; preset: ProviderPreset }> = [];

for (const preset of ALL) {
  if (BY_ID.has(preset.id)) throw new Error(`two provider presets have the id "${preset.id}"`);
  BY_ID.set(preset.id, preset);
  for (const entry of preset.domains) {
    const owner = (map: Map<string, ProviderPreset>, key: string): void => {
      const taken = map.get(key);
      if (taken) throw new Error(`domain "${entry}" is claimed by both "${taken.id}" and "${preset.id}"`);
      map.set(key, preset);
    };
    if (entry.endsWith('.*')) owner(BY_FIRST_LABEL, entry.slice(0, -2));
    else if (entry.startsWith('*.')) BY_PARENT.push({ parent: entry.slice(2), preset });
    else owner(BY_DOMAIN, entry);
  }
}

/** Every preset, `other` last. */
export function listProviders(): readonly ProviderPreset[] {
  return ALL;
}

export function getProvider(id: string): ProviderPreset | undefined {
  return BY_ID.get(id);
}

function domainOf(email: string): string {
  const normalized = normalizeEmail(email);
  const at = normalized.lastIndexOf('@');
  return (at < 0 ? '' : normalized.slice(at + 1)).replace(/\.+$/, '');
}

function presetForDomain(domain: string): ProviderPreset | undefined {
  const exact = BY_DOMAIN.get(domain);
  if (exact) return exact;
  const parent = BY_PARENT.find((p) => domain.endsWith(`.${p.parent}`));
  if (parent) return parent.preset;
  const labels = domain.split('.');
  // `gmx.*` means gmx.<suffix>, not gmx as a subdomain of something else: only the registrable name counts.
  if (labels.length >= 2 && labels[0]) return BY_FIRST_LABEL.get(labels[0]);
  return undefined;
}

/**
 * The preset for an address's domain, `matched: true`; otherwise the `other` preset with imap.<domain>:993
 * and smtp.<domain>:587 guessed (editable) and `matched: false`. Never touches the network.
 */
export function lookupProvider(email: string): LookedUpProvider {
  const domain = domainOf(email);
  const preset = domain ? presetForDomain(domain) : undefined;
  if (preset) return { ...preset, matched: true };
  return {
    ...OTHER,
    imap: imapsOn(domain ? `imap.${domain}` : ''),
    smtp: submissionOn(domain ? `smtp.${domain}` : ''),
    matched: false,
  };
}
