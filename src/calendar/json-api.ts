// JSON over HTTPS for the calendar APIs (Google Calendar, Microsoft Graph): a bearer token asked for each request,
// a timeout and the caller's AbortSignal, and HTTP statuses turned into CalendarError codes once, here.
import { CalendarError, type CalendarErrorCode } from './calendar-driver.js';

export interface JsonApiOptions {
  /** For messages: "Google Calendar answered …". */
  service: string;
  baseUrl: string;
  token(signal: AbortSignal): Promise<string>;
  timeoutMs?: number;
  fetch?: typeof globalThis.fetch;
  /** Extra headers on every request (Graph's Prefer). */
  headers?: Record<string, string>;
}

export interface JsonResponse<T> {
  status: number;
  body: T;
  headers: Headers;
}

function codeFor(status: number, body: unknown): CalendarErrorCode {
  const reason = (body as { error?: { errors?: Array<{ reason?: string }>; code?: string } } | null)?.error;
  if (status === 401) return 'AUTH_FAILED';
  if (status === 403) {
    // Google's quota answers are 403s with a reason; they pass.
    const reasons = (reason?.errors ?? []).map((e) => e.reason);
    return reasons.some((r) => r === 'rateLimitExceeded' || r === 'userRateLimitExceeded' || r === 'quotaExceeded')
      ? 'TEMPORARY'
      : 'FORBIDDEN';
  }
  if (status === 404) return 'NOT_FOUND';
  if (status === 410) return 'CURSOR_INVALID';
  if (status === 409 || status === 412) return 'CONFLICT';
  if (status === 408 || status === 429 || status >= 500) return 'TEMPORARY';
  return 'PROTOCOL_ERROR';
}

function messageOf(body: unknown): string {
  const error = (body as { error?: { message?: unknown } | string } | null)?.error;
  if (typeof error === 'string') return error;
  if (error && typeof error.message === 'string') return error.message;
  return '';
}

export class JsonApi {
  private readonly fetchImpl: typeof globalThis.fetch;
  private readonly timeoutMs: number;

  constructor(private readonly options: JsonApiOptions) {
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  url(path: string, query: Record<string, string | number | boolean | undefined> = {}): string {
    const url = new URL(/^https?:/.test(path) ? path : `${this.options.baseUrl.replace(/\/+$/, '')}${path}`);
    for (const [name, value] of Object.entries(query))
      if (value !== undefined) url.searchParams.set(name, String(value));
    return url.href;
  }

  async request<T>(
    method: string,
    path: string,
    options: {
      query?: Record<string, string | number | boolean | undefined>;
      body?: unknown;
      headers?: Record<string, string>;
      signal: AbortSignal;
    },
  ): Promise<JsonResponse<T>> {
    const url = this.url(path, options.query);
    const timeout = AbortSignal.timeout(this.timeoutMs);
    let response: Response;
    try {
      response = await this.fetchImpl(url, {
        method,
        headers: {
          authorization: `Bearer ${await this.options.token(options.signal)}`,
          accept: 'application/json',
          ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...this.options.headers,
          ...options.headers,
        },
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
        signal: AbortSignal.any([options.signal, timeout]),
      });
    } catch (error) {
      if (options.signal.aborted) throw options.signal.reason;
      throw new CalendarError(
        'TEMPORARY',
        timeout.aborted
          ? `${this.options.service} did not answer within ${this.timeoutMs / 1000} s`
          : `could not reach ${this.options.service}: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    const text = await response.text();
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (response.status >= 200 && response.status < 300)
      return { status: response.status, body: body as T, headers: response.headers };
    const detail = messageOf(body);
    throw new CalendarError(
      codeFor(response.status, body),
      `${this.options.service} answered ${response.status}${detail ? `: ${detail}` : ''}`.slice(0, 400),
      { status: response.status },
    );
  }
}
