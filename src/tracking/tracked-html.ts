// The tracked copy of an outgoing HTML body: every http(s) link becomes a redirect through PUBLIC_URL/t/c/<token>/<n>
// and a 1×1 pixel PUBLIC_URL/t/o/<token>.gif is appended. Only the tracked copy for external recipients is
// rewritten; the text alternative, the stored copy and the Sent-folder copy keep the original URLs. The links are
// returned so the redirect can only ever go to a URL that was in the message (no open redirect).
// Limits: links are found with a tag-level scan, not a full HTML parse; an <a> inside a comment or a <script> would
// be rewritten too (harmless: it still redirects to its own URL). Only the first MAX_TRACKED_LINKS are rewritten.

export interface TrackedLink {
  /** The <n> of /t/c/<token>/<n>, from 0 in document order. */
  position: number;
  /** The URL as the browser would read it (entities decoded). */
  url: string;
}

export interface TrackedHtml {
  html: string;
  links: TrackedLink[];
}

export const MAX_TRACKED_LINKS = 500;
/** A stored URL longer than this is left as it is rather than tracked. */
export const MAX_TRACKED_URL_CHARS = 4096;

const ANCHOR_TAG = /<a\b[^>]*>/gi;
const HREF_ATTRIBUTE = /(\shref\s*=\s*)("([^"]*)"|'([^']*)'|([^\s"'=<>`]+))/i;

const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

/** Decodes the character references an attribute value may hold (&amp; in a query string above all). */
export function decodeAttribute(value: string): string {
  return value.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);?/gi, (whole, ref: string) => {
    if (ref[0] === '#') {
      const code = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return NAMED_ENTITIES[ref.toLowerCase()] ?? whole;
  });
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** An absolute http(s) URL (what may be tracked and redirected to); null for mailto:, tel:, #anchors, relative, junk. */
export function trackableUrl(raw: string): string | null {
  const trimmed = raw.trim();
  if (trimmed.length === 0 || trimmed.length > MAX_TRACKED_URL_CHARS) return null;
  if (!/^https?:\/\//i.test(trimmed)) return null;
  try {
    const url = new URL(trimmed);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
    // The URL as written (not url.href): a redirect must land exactly where the author's link pointed.
    return trimmed;
  } catch {
    return null;
  }
}

/**
 * Rewrites `html` for one tracked message. `publicUrl` is PUBLIC_URL (no trailing slash needed); `token` the
 * message's tracking token. `opens` adds the pixel, `clicks` rewrites the links.
 */
export function trackedHtml(
  html: string,
  options: { publicUrl: string; token: string; opens: boolean; clicks: boolean },
): TrackedHtml {
  const base = options.publicUrl.replace(/\/+$/, '');
  const links: TrackedLink[] = [];
  let out = html;
  if (options.clicks) {
    out = out.replace(ANCHOR_TAG, (tag) => {
      if (links.length >= MAX_TRACKED_LINKS) return tag;
      const match = HREF_ATTRIBUTE.exec(tag);
      if (!match) return tag;
      const value = match[3] ?? match[4] ?? match[5] ?? '';
      const url = trackableUrl(decodeAttribute(value));
      if (!url) return tag;
      const position = links.length;
      links.push({ position, url });
      const redirect = `${base}/t/c/${options.token}/${position}`;
      return tag.replace(HREF_ATTRIBUTE, (_all, prefix: string) => `${prefix}"${escapeAttribute(redirect)}"`);
    });
  }
  if (options.opens) {
    const pixel = `<img src="${escapeAttribute(`${base}/t/o/${options.token}.gif`)}" alt="" width="1" height="1" style="display:block;width:1px;height:1px;border:0" />`;
    const bodyEnd = out.toLowerCase().lastIndexOf('</body');
    out = bodyEnd >= 0 ? `${out.slice(0, bodyEnd)}${pixel}${out.slice(bodyEnd)}` : `${out}${pixel}`;
  }
  return { html: out, links };
}
