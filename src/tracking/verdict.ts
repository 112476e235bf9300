// Tells a person's open or click from a machine's. Mail today is fetched and clicked by image proxies, privacy
// relays and security scanners long before (or instead of) a person, so every event gets a verdict and a reason,
// and the counts people see keep the two apart. What is detected, and how (the README says the same):
//   too-soon           within 30 s of the tracked copy leaving (scanners open and click on delivery);
//   head               a HEAD request (link checkers, prefetchers; a browser sends GET);
//   image-proxy:gmail  Google's image proxy (user agent with "GoogleImageProxy", or via ggpht.com);
//   image-proxy:yahoo  Yahoo's (YahooMailProxy);
//   apple-mpp          Apple Mail Privacy Protection: Apple's relay fetches with a bare WebKit agent and no browser
//                      token. Apple Mail itself loads images with that agent too, so every Apple Mail open counts
//                      as automated: it cannot be told apart without Apple's egress IP list, which is not shipped;
//   scanner            security gateways that name themselves (Microsoft Office/Outlook link checks, Proofpoint,
//                      Mimecast, Barracuda, Cisco IronPort, Symantec, Trend Micro, Sophos, Forcepoint, FireEye, …);
//   bot-agent          crawlers, link unfurlers and HTTP libraries (an isbot-style list of tokens), or no agent;
//   burst              a click on another link of the same message in the same second (scanners follow every link).
// Safe Links-style scanners that pose as a browser from a cloud address are caught only by the timing rules.

export type TrackingEventType = 'open' | 'click';

export type VerdictReason =
  'too-soon' | 'head' | 'image-proxy:gmail' | 'image-proxy:yahoo' | 'apple-mpp' | 'scanner' | 'bot-agent' | 'burst';

export interface VerdictInput {
  type: TrackingEventType;
  /** When the request arrived (epoch ms). */
  at: number;
  /** When the tracked copy left (epoch ms); null while the outbox has not recorded it. */
  sentAt: number | null;
  method: string;
  userAgent: string | undefined;
  /** Clicks on OTHER links of the same message in the second before this one. */
  otherLinksClickedWithinSecond?: number;
}

export interface Verdict {
  automated: boolean;
  reason: VerdictReason | null;
  /** A coarse family of the agent, stored instead of the agent string. */
  agent: string;
}

/** The contract's "within 30 s of the message leaving". */
export const TOO_SOON_MS = 30_000;
/** "Several links in the same second". */
export const BURST_MS = 1_000;

const GMAIL_PROXY = /googleimageproxy|ggpht\.com/i;
const YAHOO_PROXY = /yahoomailproxy/i;
const SCANNER =
  /microsoft office|ms-office|msoffice|outlook-(?:link|url)|safelinks|proofpoint|urldefense|ppops|mimecast|barracuda|ironport|cisco|symantec|messagelabs|trend ?micro|sophos|forcepoint|websense|fireeye|trellix|zscaler|spamtitan|avanan|check ?point|vade ?secure|hornetsecurity|fortinet|fortiguard|paloalto|mailguard|scanner|sandbox/i;
// The core of isbot's pattern: crawler words, link unfurlers of chat apps, headless browsers and HTTP libraries.
const BOT =
  /bot\b|bot\/|crawl|spider|slurp|archiver|preview|facebookexternalhit|whatsapp|headless|phantomjs|puppeteer|playwright|selenium|curl\/|wget\/|python-|python\/|aiohttp|httpx|go-http-client|java\/|okhttp|apache-httpclient|libwww|lwp::|axios\/|node-fetch|undici|got \(|postman|insomnia|scrapy|httpclient|feedfetcher|mediapartners|lighthouse|pingdom|uptime|monitor/i;
const BROWSER_TOKEN = /chrome\/|crios\/|firefox\/|fxios\/|safari\/|version\/|edg\/|edge\/|opr\/|opera|thunderbird\//i;
const APPLE_WEBKIT = /applewebkit\//i;

function family(ua: string): string {
  if (ua === '') return 'none';
  if (GMAIL_PROXY.test(ua)) return 'gmail-proxy';
  if (YAHOO_PROXY.test(ua)) return 'yahoo-proxy';
  if (SCANNER.test(ua)) return 'scanner';
  if (BOT.test(ua)) return 'bot';
  if (/thunderbird\//i.test(ua)) return 'thunderbird';
  if (/outlook|microsoft outlook/i.test(ua)) return 'outlook';
  if (/edg\/|edge\//i.test(ua)) return 'edge';
  if (/opr\/|opera/i.test(ua)) return 'opera';
  if (/firefox\/|fxios\//i.test(ua)) return 'firefox';
  if (/chrome\/|crios\//i.test(ua)) return 'chrome';
  if (/safari\//i.test(ua)) return 'safari';
  if (APPLE_WEBKIT.test(ua)) return 'apple-mail';
  if (/^mozilla\/5\.0\s*$/i.test(ua)) return 'apple-mail';
  return 'other';
}

/** Apple's relay: a WebKit agent (or a bare "Mozilla/5.0") without any browser's own token. */
function looksLikeAppleRelay(ua: string): boolean {
  if (/^mozilla\/5\.0\s*$/i.test(ua)) return true;
  return APPLE_WEBKIT.test(ua) && !BROWSER_TOKEN.test(ua);
}

export function judgeEvent(input: VerdictInput): Verdict {
  const ua = (input.userAgent ?? '').trim().slice(0, 1000);
  const agent = family(ua);
  const automated = (reason: VerdictReason): Verdict => ({ automated: true, reason, agent });
  if (input.method.toUpperCase() === 'HEAD') return automated('head');
  // Before the outbox recorded the send nobody can have read it: only a machine that saw it in flight.
  if (input.sentAt === null || input.at - input.sentAt < TOO_SOON_MS) return automated('too-soon');
  if (GMAIL_PROXY.test(ua)) return automated('image-proxy:gmail');
  if (YAHOO_PROXY.test(ua)) return automated('image-proxy:yahoo');
  if (agent === 'scanner') return automated('scanner');
  if (ua === '' || agent === 'bot') return automated('bot-agent');
  if (input.type === 'open' && looksLikeAppleRelay(ua)) return automated('apple-mpp');
  if (input.type === 'click' && (input.otherLinksClickedWithinSecond ?? 0) > 0) return automated('burst');
  return { automated: false, reason: null, agent };
}
