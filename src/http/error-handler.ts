// The one place that turns errors into HTTP answers: the envelope of contract.md, a status per code, and
// no internals (stack, SQL, library messages) in a 5xx.
import type { FastifyError, FastifyInstance } from 'fastify';
import { ZodError } from 'zod';
import { AppError, type ErrorCode, type FieldIssue } from '../core/app-error.js';

/** Every AppError code with its status; also the runtime list of codes (the dictionaries' test reads it). */
export const STATUS: Record<ErrorCode, number> = {
  VALIDATION_FAILED: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONTACT_EMAIL_TAKEN: 409,
  USER_EMAIL_TAKEN: 409,
  CONFLICT: 409,
  EMAIL_ACCOUNT_EXISTS: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  AUTH_FAILED: 422,
  TLS_FAILED: 422,
  HOST_UNREACHABLE: 422,
  TIMEOUT: 422,
  PROTOCOL_ERROR: 422,
  PLAN_REQUIRED: 422,
  RATE_LIMITED: 429,
  HOST_NOT_ALLOWED: 422,
  CSRF_REFUSED: 403,
  SENDER_NOT_VERIFIED: 403,
  SLOT_TAKEN: 409,
  ALREADY_SET_UP: 409,
  USER_DEACTIVATED: 403,
  // Issue 15, templates (H1).
  MERGE_FIELD_MISSING: 422,
  MERGE_FIELD_UNKNOWN: 422,
  // Issue 15, tracking (H3).
  TRACKING_OFF: 422,
  // Send later (issue 15).
  SEND_STARTED: 409,
  SEND_AT_PAST: 422,
  SEND_AT_TOO_FAR: 422,
  // Signatures (issue 15, H5).
  SIGNATURE_TOO_LARGE: 422,
  // Booking pages (issue 16, H8).
  SLUG_TAKEN: 409,
  SLOT_UNAVAILABLE: 422,
  // Data-subject rights (issue 19, A4).
  CONTACT_ADDRESS_ERASED: 409,
  // Issue 18: too many large request bodies at once (body-budget.ts).
  SERVER_BUSY: 503,
  INTERNAL: 500,
};

export interface ErrorBody {
  error: { code: string; message: string; hint?: string; fields?: FieldIssue[]; [key: string]: unknown };
}

// An error answer is never much larger than the question's worst case: a body with 100k unknown keys (or 1 MB of
// text read as one) once produced 40 MB of "unknown field" lines. A few fields, each cut short, say enough.
export const MAX_FIELD_ISSUES = 10;
const MAX_PATH_CHARS = 120;
const MAX_FIELD_MESSAGE_CHARS = 200;
export const MAX_MESSAGE_CHARS = 500;
const MAX_KEYS_NAMED = 5;

/** `text` cut to `max` characters, with an ellipsis when something was cut. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export function zodIssues(error: ZodError, prefix: string): FieldIssue[] {
  return error.issues.slice(0, MAX_FIELD_ISSUES).map((issue) => {
    const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
    if (issue.code === 'unrecognized_keys') {
      const named = issue.keys
        .slice(0, MAX_KEYS_NAMED)
        .map((key) => `"${truncate(key, 40)}"`)
        .join(', ');
      const more = issue.keys.length > MAX_KEYS_NAMED ? ` and ${issue.keys.length - MAX_KEYS_NAMED} more` : '';
      const first = issue.keys[0] ?? '';
      return {
        path: truncate(issue.keys.length === 1 ? `${path}.${first}` : path, MAX_PATH_CHARS),
        message: truncate(
          `unknown field${issue.keys.length === 1 ? '' : 's'} ${named}${more}`,
          MAX_FIELD_MESSAGE_CHARS,
        ),
      };
    }
    return { path: truncate(path, MAX_PATH_CHARS), message: truncate(issue.message, MAX_FIELD_MESSAGE_CHARS) };
  });
}

export function validationError(error: ZodError, prefix: string): AppError {
  const fields = zodIssues(error, prefix);
  const more = error.issues.length > fields.length ? ` (and ${error.issues.length - fields.length} more)` : '';
  const named = fields.map((f) => `${f.path}: ${f.message}`).join('; ');
  return new AppError('VALIDATION_FAILED', truncate(`Invalid request ${prefix}: ${named}${more}`, MAX_MESSAGE_CHARS), {
    fields,
  });
}

function capFields(fields: FieldIssue[]): FieldIssue[] {
  return fields.slice(0, MAX_FIELD_ISSUES).map((f) => ({
    path: truncate(f.path, MAX_PATH_CHARS),
    message: truncate(f.message, MAX_FIELD_MESSAGE_CHARS),
  }));
}

function envelope(error: AppError): ErrorBody {
  return {
    error: {
      code: error.code,
      // Also caps messages built elsewhere from what the client sent (a header, a field's value).
      message: truncate(error.message, MAX_MESSAGE_CHARS),
      ...(error.hint ? { hint: error.hint } : {}),
      ...(error.fields ? { fields: capFields(error.fields) } : {}),
      ...(error.details ?? {}),
    },
  };
}

/** Fastify's own 4xx errors (body parsing, content type, size) in our vocabulary. */
function fromFastify(error: FastifyError): AppError | null {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError('VALIDATION_FAILED', `The request body is not valid JSON: ${error.message}`, {
        fields: [{ path: 'body', message: 'not valid JSON' }],
      });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('PAYLOAD_TOO_LARGE', 'The request body is larger than this endpoint accepts');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError('UNSUPPORTED_MEDIA_TYPE', 'This content type is not accepted here', {
        hint: 'Send JSON with Content-Type: application/json (or text/csv for a contacts import).',
      });
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new AppError('VALIDATION_FAILED', 'The Content-Length header does not match the body');
    default:
      break;
  }
  if (error instanceof SyntaxError || (error.statusCode && error.statusCode >= 400 && error.statusCode < 500)) {
    return new AppError('VALIDATION_FAILED', error.message, {
      fields: [{ path: 'body', message: truncate(error.message, MAX_FIELD_MESSAGE_CHARS) }],
    });
  }
  return null;
}

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err, request, reply) => {
    const raw = err as FastifyError;
    const error =
      err instanceof AppError ? err : err instanceof ZodError ? validationError(err, 'body') : fromFastify(raw);
    if (!error) {
      request.log.error({ err }, 'unhandled error');
      const internal = new AppError('INTERNAL', 'Something went wrong on the server; it has been logged');
      return reply.status(500).send(envelope(internal));
    }
    // A busy server is a state, not a fault: worth a warning, not an error report.
    if (error.code === 'SERVER_BUSY') request.log.warn({ code: error.code }, 'request refused: server busy');
    else if (STATUS[error.code] >= 500) request.log.error({ err }, 'server error');
    const retryAfter = error.details?.retryAfterSeconds;
    if ((error.code === 'RATE_LIMITED' || error.code === 'SERVER_BUSY') && typeof retryAfter === 'number')
      reply.header('retry-after', String(retryAfter));
    return reply.status(STATUS[error.code]).send(envelope(error));
  });

  app.setNotFoundHandler((request, reply) => {
    reply
      .status(404)
      .send(envelope(new AppError('NOT_FOUND', `No route for ${request.method} ${request.url.split('?')[0]}`)));
  });
}
