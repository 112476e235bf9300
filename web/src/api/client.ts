// The one way the web app talks to the API: same-origin fetch with the session cookie, JSON in and out, and
// the error envelope of contract.md turned into an ApiError that keeps its stable code and hint.
import type { ApiErrorBody } from './types';

/** A field a 400 VALIDATION_FAILED names. */
export type FieldIssue = NonNullable<ApiErrorBody['error']['fields']>[number];

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint?: string,
    readonly fields?: FieldIssue[],
    /** The envelope's `details`, when the server adds them (e.g. `{rule}` for a refused password). */
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Fired when the session is gone (401 on a call other than sign-in): the app shows the sign-in page. */
export const UNAUTHENTICATED_EVENT = 'conversa:unauthenticated';

interface RequestOptions {
  /** A non-JSON body (a CSV import) with its content type. */
  raw?: { body: string | Blob; contentType: string };
  signal?: AbortSignal;
  /** Don't announce a 401 (the sign-in call and the start-up probe handle it themselves). */
  quiet401?: boolean;
}

export async function api<T>(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  let payload: BodyInit | undefined;
  if (options.raw) {
    headers['content-type'] = options.raw.contentType;
    payload = options.raw.body;
  } else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      ...(payload !== undefined ? { body: payload } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    throw new ApiError(0, 'NETWORK', 'The server could not be reached');
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    // Any answer may come from a proxy rather than from us: every field of the envelope is checked for.
    const envelope = (parsed as { error?: Partial<ApiErrorBody['error']> } | undefined)?.error;
    const error = new ApiError(
      response.status,
      envelope?.code ?? `HTTP_${response.status}`,
      envelope?.message ?? response.statusText,
      envelope?.hint,
      envelope?.fields,
      detailsOf(envelope),
    );
    // A deactivated user's session ends at once (403 USER_DEACTIVATED): back to the sign-in page as for a 401.
    const signedOut = response.status === 401 || (response.status === 403 && error.code === 'USER_DEACTIVATED');
    if (signedOut && !options.quiet401) window.dispatchEvent(new Event(UNAUTHENTICATED_EVENT));
    throw error;
  }
  return parsed as T;
}

/** The envelope's extra fields: the server spreads an error's details beside code and message (e.g. `rule`). */
function detailsOf(envelope: object | undefined): Record<string, unknown> | undefined {
  if (!envelope) return undefined;
  const { code: _code, message: _message, hint: _hint, fields: _fields, ...rest } = envelope as Record<string, unknown>;
  return Object.keys(rest).length > 0 ? rest : undefined;
}

/** Builds a query string from the defined, non-empty values. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

export function isNotFound(error: unknown): boolean {
  return error instanceof ApiError && error.status === 404;
}
