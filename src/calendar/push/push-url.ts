// Whether Google and Microsoft can reach this install: push channels are made only when PUBLIC_URL is https on a
// name or address the internet can reach. Anything else (the default http://127.0.0.1:3000, a LAN address, a
// single-label or .local/.internal name) keeps the calendars polled as before: a channel the provider cannot deliver
// to would only slow polling down for nothing (Google refuses non-https addresses outright).
import { isIP } from 'node:net';
import { classifyAddress } from '../../net/outbound-policy.js';

/** Names that never resolve on the public internet (RFC 6761/6762/8375, and the usual private suffixes). */
const PRIVATE_SUFFIXES = ['.localhost', '.local', '.internal', '.lan', '.home.arpa', '.test', '.example', '.invalid'];

/** true when PUBLIC_URL is one the calendar providers can deliver notifications to. */
export function pushUsable(publicUrl: string): boolean {
  let url: URL;
  try {
    url = new URL(publicUrl);
  } catch {
    return false;
  }
  if (url.protocol !== 'https:') return false;
  const host = url.hostname
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '');
  if (!host) return false;
  if (isIP(host)) return classifyAddress(host) === 'public';
  if (host === 'localhost' || !host.includes('.')) return false;
  return !PRIVATE_SUFFIXES.some((suffix) => host.endsWith(suffix));
}

export type PushProvider = 'google' | 'microsoft';

/** The webhook URL a provider is given: PUBLIC_URL (with any path prefix it has) + /hooks/… */
export function hookAddress(publicUrl: string, provider: PushProvider): string {
  const base = publicUrl.replace(/\/+$/, '');
  return `${base}/hooks/${provider === 'google' ? 'google-calendar' : 'graph-calendar'}`;
}
