// Declares API routes once: the zod schemas that validate a request are the ones the OpenAPI document
// is generated from, so the document cannot drift from the code.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z, type ZodType } from 'zod';
import { AppError } from '../core/app-error.js';
import type { User } from '../users/users.js';
import { validationError } from './error-handler.js';
import { authenticate } from './authenticate.js';
import { checkOrigin, originOf } from './check-origin.js';
import type { Db } from '../storage/database.js';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

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

export interface RouteSpec<P, Q, B, A extends 'user' | 'admin' | 'public'> {
  method: Method;
  /** Fastify style: /api/contacts/:id */
  path: string;
  summary: string;
  tag: string;
  auth: A;
  params?: ZodType<P>;
  query?: ZodType<Q>;
  body?: ZodType<B>;
  /** A non-JSON body (e.g. text/csv) arrives as a Buffer; documented under this media type. */
  rawBody?: { contentType: string; description: string };
  bodyLimit?: number;
  status?: number;
  responses: Record<number, ResponseSpec>;
  handler: (ctx: RouteContext<P, Q, B, A extends 'public' ? User | undefined : User>) => Promise<unknown>;
}

interface Documented {
  method: Method;
  path: string;
  summary: string;
  tag: string;
  auth: 'user' | 'admin' | 'public';
  params?: ZodType;
  query?: ZodType;
  body?: ZodType;
  rawBody?: { contentType: string; description: string };
  status: number;
  responses: Record<number, ResponseSpec>;
}

const errorSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    hint: z.string().optional(),
    fields: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  }),
});

export class ApiRouter {
  private readonly documented: Documented[] = [];
  private readonly publicOrigin: string;

  constructor(
    private readonly app: FastifyInstance,
    private readonly db: Db,
    /** PUBLIC_URL: cookie-authenticated changes must come from its origin (check-origin.ts). */
    publicUrl: string,
  ) {
    const origin = originOf(publicUrl);
    if (!origin) throw new Error(`PUBLIC_URL "${publicUrl}" has no origin`);
    this.publicOrigin = origin;
  }

  route<P = undefined, Q = undefined, B = undefined, A extends 'user' | 'admin' | 'public' = 'user'>(spec: RouteSpec<P, Q, B, A>): void {
    const status = spec.status ?? 200;
    this.documented.push({ ...spec, status } as Documented);
    const db = this.db;
    this.app.route({
      method: spec.method,
      url: spec.path,
      ...(spec.bodyLimit ? { bodyLimit: spec.bodyLimit } : {}),
      // Read by the content-type parsers (build-server.ts): only a route that declares a raw type accepts it.
      config: { rawBodyType: spec.rawBody?.contentType },
      handler: async (request, reply) => {
        checkOrigin(request, this.publicOrigin);
        const user = spec.auth === 'public' ? await authenticate(db, request, { optional: true }) : await authenticate(db, request);
        if (spec.auth === 'admin' && !user?.isAdmin) throw new AppError('FORBIDDEN', 'Only an administrator can do this');
        const params = parse(spec.params, request.params, 'params');
        const query = parse(spec.query, request.query, 'query');
        let body: unknown;
        if (spec.rawBody) {
          if (!Buffer.isBuffer(request.body)) {
            throw new AppError('UNSUPPORTED_MEDIA_TYPE', `This endpoint takes a ${spec.rawBody.contentType} body`);
          }
          body = request.body;
        } else {
          body = parse(spec.body, request.body, 'body');
        }
        const result = await spec.handler({ params, query, body, user, request, reply } as RouteContext<P, Q, B, never>);
        if (reply.sent) return reply;
        if (status === 204) return reply.status(204).send();
        return reply.status(reply.statusCode === 200 ? status : reply.statusCode).send(result);
      },
    });
  }

  openApiDocument(info: { title: string; version: string; serverUrl: string }): Record<string, unknown> {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const route of this.documented) {
      const openApiPath = route.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      const parameters = [
        ...objectParameters(route.params, 'path'),
        ...objectParameters(route.query, 'query'),
      ];
      const responses: Record<string, unknown> = {};
      for (const [code, response] of Object.entries(route.responses)) {
        responses[code] = {
          description: response.description,
          ...(response.schema ? { content: { [response.contentType ?? 'application/json']: { schema: jsonSchema(response.schema, 'output') } } } : {}),
        };
      }
      responses.default = { description: 'Error envelope', content: { 'application/json': { schema: jsonSchema(errorSchema, 'output') } } };
      const requestBody = route.rawBody
        ? { required: true, description: route.rawBody.description, content: { [route.rawBody.contentType]: { schema: { type: 'string' } } } }
        : route.body
          ? { required: true, content: { 'application/json': { schema: jsonSchema(route.body, 'input') } } }
          : undefined;
      (paths[openApiPath] ??= {})[route.method.toLowerCase()] = {
        summary: route.summary,
        tags: [route.tag],
        ...(route.auth === 'public' ? { security: [] } : {}),
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
        },
      },
      security: [{ bearer: [] }, { session: [] }],
      paths,
    };
  }
}

function parse<T>(schema: ZodType<T> | undefined, value: unknown, where: string): T | undefined {
  if (!schema) return undefined;
  const result = schema.safeParse(value ?? (where === 'body' ? undefined : {}));
  if (!result.success) throw validationError(result.error, where);
  return result.data;
}

function jsonSchema(schema: ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
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
