// Declares API routes once: the zod schemas that validate a request are the ones the OpenAPI document
// is generated from, so the document cannot drift from the code. A handler's answer is typed by the response schema
// its route declares (compile time), and, when told to (tests, development), checked against it before it is sent.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z, type ZodType } from 'zod';
import { AppError } from '../core/app-error.js';
import type { User } from '../users/users.js';
import { errorSchema } from './api-schemas.js';
import { validationError } from './error-handler.js';
import { authenticate } from './authenticate.js';
import { checkOrigin, originOf } from './check-origin.js';
import { BodyBudget, BUDGETED_FROM_BYTES } from './body-budget.js';
import { collectGarbage, COLLECT_AFTER_BYTES } from '../core/collect-garbage.js';
import type { Db } from '../storage/database.js';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * rawBody.contentType of a webhook whose sender picks the media type (Graph posts text/plain to validate, JSON to
 * notify; Google posts nothing): the bytes as sent, an empty Buffer for no body. The handler reads them itself.
 */
export const ANY_MEDIA_TYPE = '*/*';

export interface RouteContext<P, Q, B, U> {
  params: P;
  query: Q;
  body: B;
  user: U;
  request: FastifyRequest;
  reply: FastifyReply;
}

interface ResponseSpec {
  description: string;
  schema?: ZodType;
  contentType?: string;
}

type Responses = Record<number, ResponseSpec>;

/** The 2xx statuses a route declares: the answers its handler returns (errors are thrown, not returned). */
type SuccessStatus<R> = {
  [K in keyof R]: K extends number ? (`${K}` extends `2${string}` ? K : never) : never;
}[keyof R];

/** The body a declared answer carries: its schema's type, or nothing (204, a redirect). */
type AnswerBody<S> = S extends { schema: infer Z extends ZodType } ? z.output<Z> : void;

/**
 * What a handler may return: one of its route's 2xx bodies, or the reply when it sent the answer itself (bytes,
 * a redirect). Response schemas do not transform, so their output type is the JSON the client reads.
 */
export type HandlerAnswer<R> = AnswerBody<R[SuccessStatus<R>]> | FastifyReply;

export interface RouteSpec<P, Q, B, A extends 'user' | 'admin' | 'public', R extends Responses = Responses> {
  method: Method;
  /** Fastify style: /api/contacts/:id */
  path: string;
  summary: string;
  tag: string;
  auth: A;
  /**
   * Metrics (issue 19, A2): 'own' — the handler checks the Authorization header itself (GET /metrics and its
   * METRICS_TOKEN), so the router reads neither an API token nor the session; only with auth 'public'.
   */
  credentials?: 'own';
  params?: ZodType<P>;
  query?: ZodType<Q>;
  body?: ZodType<B>;
  /** A non-JSON body (e.g. text/csv) arrives as a Buffer; documented under this media type. */
  rawBody?: { contentType: string; description: string };
  bodyLimit?: number;
  status?: number;
  responses: R;
  handler: (
    ctx: RouteContext<P, Q, B, A extends 'public' ? User | undefined : User>,
  ) => Promise<NoInfer<HandlerAnswer<R>>> | NoInfer<HandlerAnswer<R>>;
}

interface Documented {
  method: Method;
  path: string;
  summary: string;
  tag: string;
  auth: 'user' | 'admin' | 'public';
  credentials?: 'own';
  params?: ZodType;
  query?: ZodType;
  body?: ZodType;
  rawBody?: { contentType: string; description: string };
  status: number;
  responses: Responses;
}

export interface ApiRouterOptions {
  /**
   * Check every JSON answer against the schema its route declares for the status sent; a mismatch (a wrong or
   * missing field, a field the schema does not declare, an undeclared status) becomes a 500 and a log line naming
   * the route and the path. For tests and development (CONVERSA_CHECK_RESPONSES): it costs a parse per answer.
   */
  validateResponses?: boolean;
  /** Large request bodies wait for room before they are read (body-budget.ts); default: a budget of its defaults. */
  bodyBudget?: BodyBudget;
}

export class ApiRouter {
  private readonly documented: Documented[] = [];
  private readonly publicOrigin: string;
  private readonly bodyBudget: BodyBudget;
  /** Who asked, found from the request's headers before its body is read (onRequest). */
  private readonly askers = new WeakMap<FastifyRequest, User | undefined>();

  constructor(
    private readonly app: FastifyInstance,
    private readonly db: Db,
    /** PUBLIC_URL: cookie-authenticated changes must come from its origin (check-origin.ts). */
    publicUrl: string,
    private readonly options: ApiRouterOptions = {},
  ) {
    const origin = originOf(publicUrl);
    if (!origin) throw new Error(`PUBLIC_URL "${publicUrl}" has no origin`);
    this.publicOrigin = origin;
    this.bodyBudget = options.bodyBudget ?? new BodyBudget();
  }

  route<
    P = undefined,
    Q = undefined,
    B = undefined,
    A extends 'user' | 'admin' | 'public' = 'user',
    R extends Responses = Responses,
  >(spec: RouteSpec<P, Q, B, A, R>): void {
    const status = spec.status ?? 200;
    this.documented.push({ ...spec, status } as Documented);
    const db = this.db;
    this.app.route({
      method: spec.method,
      url: spec.path,
      ...(spec.bodyLimit ? { bodyLimit: spec.bodyLimit } : {}),
      // Read by the content-type parsers (build-server.ts): only a route that declares a raw type accepts it.
      config: { rawBodyType: spec.rawBody?.contentType },
      // Who asks, and from where, is settled from the headers before the body is read: a stranger's 40 MB is
      // refused unread (eight strangers' 40 MB posts at once had taken an idle server from 104 to 566 MB).
      onRequest: async (request) => {
        checkOrigin(request, this.publicOrigin);
        const user =
          spec.auth === 'public'
            ? spec.credentials === 'own'
              ? undefined
              : await authenticate(db, request, { optional: true })
            : await authenticate(db, request);
        if (spec.auth === 'admin' && !user?.isAdmin)
          throw new AppError('FORBIDDEN', 'Only an administrator can do this');
        this.askers.set(request, user);
      },
      preParsing: async (request, reply, payload) => {
        await this.waitForRoom(request, reply);
        return payload;
      },
      handler: async (request, reply) => {
        const user = this.askers.get(request);
        const params = parse(spec.params, request.params, 'params');
        const query = parse(spec.query, request.query, 'query');
        let body: unknown;
        if (spec.rawBody?.contentType === ANY_MEDIA_TYPE) {
          body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        } else if (spec.rawBody) {
          if (!Buffer.isBuffer(request.body)) {
            throw new AppError('UNSUPPORTED_MEDIA_TYPE', `This endpoint takes a ${spec.rawBody.contentType} body`);
          }
          body = request.body;
        } else {
          body = parse(spec.body, request.body, 'body');
        }
        const result = await spec.handler({ params, query, body, user, request, reply } as RouteContext<
          P,
          Q,
          B,
          never
        >);
        if (reply.sent) return reply;
        const sent = status === 204 ? 204 : reply.statusCode === 200 ? status : reply.statusCode;
        if (this.options.validateResponses) {
          checkAnswer(`${spec.method} ${spec.path}`, spec.responses, sent, result, request);
        }
        if (status === 204) return reply.status(204).send();
        return reply.status(sent).send(result);
      },
    });
  }

  /**
   * A large body waits for room in the budget before it is read, and gives it back when the answer has gone (or the
   * connection closed). Its size is what Content-Length declares, capped by the route's body limit (a longer
   * body is refused at the limit anyway), or that limit when the length is not declared (chunked).
   */
  private async waitForRoom(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const limit = request.routeOptions.bodyLimit ?? Infinity;
    const length = request.headers['content-length'];
    const declared = length === undefined ? NaN : Number(length);
    const chunked = request.headers['transfer-encoding'] !== undefined;
    const bytes = Number.isFinite(declared) && declared >= 0 ? Math.min(declared, limit) : chunked ? limit : 0;
    if (!(bytes >= BUDGETED_FROM_BYTES) || !Number.isFinite(bytes)) return;
    const gone = new AbortController();
    const onClose = () => gone.abort(new AppError('TIMEOUT', 'The client closed the connection'));
    reply.raw.once('close', onClose);
    let release: () => void;
    try {
      release = await this.bodyBudget.acquire(bytes, gone.signal);
    } finally {
      reply.raw.off('close', onClose);
    }
    // A large body's text, object and decoded bytes are garbage once its answer has gone; collected before the next
    // one is let in, not at V8's next full collection several bodies later (issue 18: 8 senders of 32 MB each at
    // once peaked at 353 / 354 MB with the budget alone, 289 / 296 MB with this).
    const giveBack = () =>
      setImmediate(() => {
        if (bytes >= COLLECT_AFTER_BYTES) collectGarbage();
        release();
      });
    if (reply.raw.closed) {
      giveBack();
      return;
    }
    // Bytes arriving too slowly would hold the room for ever (body-budget.ts): such a connection is closed.
    const stopWatching = this.bodyBudget.watchArrival(request.raw.socket, () => {
      request.log.warn({ bytes }, 'request body arriving too slowly: connection closed');
      request.raw.destroy();
    });
    request.raw.once('end', stopWatching);
    reply.raw.once('close', () => {
      stopWatching();
      giveBack();
    });
  }

  openApiDocument(info: { title: string; version: string; serverUrl: string }): Record<string, unknown> {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const route of this.documented) {
      const openApiPath = route.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      const parameters = [...objectParameters(route.params, 'path'), ...objectParameters(route.query, 'query')];
      const responses: Record<string, unknown> = {};
      for (const [code, response] of Object.entries(route.responses)) {
        responses[code] = {
          description: response.description,
          ...(response.schema
            ? {
                content: {
                  [response.contentType ?? 'application/json']: { schema: jsonSchema(response.schema, 'output') },
                },
              }
            : {}),
        };
      }
      responses.default = {
        description: 'Error envelope',
        content: { 'application/json': { schema: jsonSchema(errorSchema, 'output') } },
      };
      const requestBody = route.rawBody
        ? {
            required: true,
            description: route.rawBody.description,
            content: { [route.rawBody.contentType]: { schema: { type: 'string' } } },
          }
        : route.body
          ? { required: true, content: { 'application/json': { schema: jsonSchema(route.body, 'input') } } }
          : undefined;
      (paths[openApiPath] ??= {})[route.method.toLowerCase()] = {
        summary: route.summary,
        tags: [route.tag],
        // GET /metrics: its own token when METRICS_TOKEN is set, nothing (loopback) otherwise.
        ...(route.auth === 'public' ? { security: route.credentials === 'own' ? [{ metricsToken: [] }, {}] : [] } : {}),
        ...(parameters.length ? { parameters } : {}),
        ...(requestBody ? { requestBody } : {}),
        responses,
      };
    }
    return {
      openapi: '3.1.0',
      info: { title: info.title, version: info.version },
      servers: [{ url: info.serverUrl }],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          session: { type: 'apiKey', in: 'cookie', name: 'conversa_session' },
          metricsToken: { type: 'http', scheme: 'bearer', description: 'METRICS_TOKEN (GET /metrics only)' },
        },
      },
      security: [{ bearer: [] }, { session: [] }],
      paths,
    };
  }
}

/** Throws a 500 (and logs what differs) when an answer is not what its route declares for that status. */
function checkAnswer(
  route: string,
  responses: Responses,
  status: number,
  answer: unknown,
  request: FastifyRequest,
): void {
  const declared = responses[status];
  const mismatches: string[] = [];
  if (!declared) {
    mismatches.push(`status ${status} is not declared`);
  } else if (!declared.schema) {
    if (status !== 204 && answer !== undefined) mismatches.push('a body where none is declared');
  } else if ((declared.contentType ?? 'application/json') === 'application/json') {
    // What the client reads: the JSON text of the answer (a Date becomes a string, undefined fields vanish).
    const wire: unknown = answer === undefined ? undefined : JSON.parse(JSON.stringify(answer));
    const result = declared.schema.safeParse(wire);
    if (result.success) {
      undeclaredFields(wire, result.data, '', mismatches);
    } else {
      for (const issue of result.error.issues) mismatches.push(`${issue.path.join('.') || '(root)'}: ${issue.message}`);
    }
  }
  if (mismatches.length === 0) return;
  const more = mismatches.length > 10 ? ` (and ${mismatches.length - 10} more)` : '';
  const shown = mismatches.slice(0, 10).join('; ') + more;
  request.log.error(
    { route, status, mismatches: mismatches.slice(0, 50) },
    `answer of ${route} (${status}) does not match its schema: ${shown}`,
  );
  throw new AppError('INTERNAL', `The answer of ${route} (${status}) does not match its declared schema: ${shown}`);
}

/**
 * Fields the client would receive that the schema does not declare: zod drops them when parsing, so they are what
 * the answer has and the parsed value lacks. An undeclared field is drift (or a leak) the document cannot show.
 */
function undeclaredFields(sent: unknown, declared: unknown, path: string, out: string[]): void {
  if (Array.isArray(sent) && Array.isArray(declared)) {
    sent.forEach((item, index) => {
      undeclaredFields(item, declared[index], path ? `${path}.${index}` : String(index), out);
    });
    return;
  }
  if (!isPlainObject(sent) || !isPlainObject(declared)) return;
  for (const [key, value] of Object.entries(sent)) {
    const at = path ? `${path}.${key}` : key;
    if (!(key in declared)) out.push(`${at}: not declared by the schema`);
    else undeclaredFields(value, declared[key], at, out);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parse<T>(schema: ZodType<T> | undefined, value: unknown, where: string): T | undefined {
  if (!schema) return undefined;
  const result = schema.safeParse(value ?? (where === 'body' ? undefined : {}));
  if (!result.success) throw validationError(result.error, where);
  return result.data;
}

function jsonSchema(schema: ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return rest;
}

function objectParameters(schema: ZodType | undefined, location: 'path' | 'query'): unknown[] {
  if (!schema) return [];
  const json = jsonSchema(schema, 'input') as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, property]) => ({
    name,
    in: location,
    required: location === 'path' || (json.required ?? []).includes(name),
    schema: property,
  }));
}
