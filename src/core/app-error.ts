// The one error type that crosses layers. Domain code throws it with a stable code; the HTTP layer maps
// codes to statuses in one table (src/http/error-handler.ts). Library errors are translated into it at
// the boundary that caught them, keeping the original as `cause`.

export type ErrorCode =
  | 'VALIDATION_FAILED'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONTACT_EMAIL_TAKEN'
  | 'USER_EMAIL_TAKEN'
  | 'CONFLICT'
  | 'EMAIL_ACCOUNT_EXISTS'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'AUTH_FAILED'
  | 'TLS_FAILED'
  | 'HOST_UNREACHABLE'
  | 'TIMEOUT'
  | 'PROTOCOL_ERROR'
  | 'PLAN_REQUIRED'
  | 'RATE_LIMITED'
  | 'HOST_NOT_ALLOWED'
  | 'CSRF_REFUSED'
  | 'SENDER_NOT_VERIFIED'
  | 'SLOT_TAKEN'
  | 'ALREADY_SET_UP'
  | 'USER_DEACTIVATED'
  // Issue 15, templates (H1): a merge field with no value and no fallback; a merge field that does not exist.
  | 'MERGE_FIELD_MISSING'
  | 'MERGE_FIELD_UNKNOWN'
  // Issue 15, tracking (H3): a message asks for tracking while the sender's tracking setting is off.
  | 'TRACKING_OFF'
  // Send later (issue 15): the message is being or was sent; sendAt not in the future / too far ahead.
  | 'SEND_STARTED'
  | 'SEND_AT_PAST'
  | 'SEND_AT_TOO_FAR'
  // Signatures (issue 15, H5): a mailbox's signature over 64 KB.
  | 'SIGNATURE_TOO_LARGE'
  // Booking pages (issue 16, H8).
  | 'SLUG_TAKEN'
  | 'SLOT_UNAVAILABLE'
  // Data-subject rights (issue 19, A4): an address of a contact erased on request.
  | 'CONTACT_ADDRESS_ERASED'
  // Issue 18: large request bodies wait for room (body-budget.ts); this one waited too long.
  | 'SERVER_BUSY'
  | 'INTERNAL';

export interface FieldIssue {
  path: string;
  message: string;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly fields: FieldIssue[] | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { hint?: string; fields?: FieldIssue[]; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.hint = options.hint;
    this.fields = options.fields;
    this.details = options.details;
  }
}

export function notFound(what: string): AppError {
  return new AppError('NOT_FOUND', `${what} not found`);
}
