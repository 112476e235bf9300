// Who is calling: a Bearer API token (scripts, other programs) or the web app's session cookie.
import type { FastifyRequest } from 'fastify';
import { AppError } from '../core/app-error.js';
import type { Db } from '../storage/database.js';
import { userForApiToken, userForSession, type User } from '../users/users.js';

export const SESSION_COOKIE = 'conversa_session';

export async function authenticate(
  db: Db,
  request: FastifyRequest,
  options: { optional: true },
): Promise<User | undefined>;
export async function authenticate(db: Db, request: FastifyRequest, options?: { optional?: false }): Promise<User>;
export async function authenticate(
  db: Db,
  request: FastifyRequest,
  options: { optional?: boolean } = {},
): Promise<User | undefined> {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new AppError('UNAUTHENTICATED', 'The Authorization header must be "Bearer <token>"');
    const user = await userForApiToken(db, match[1]!);
    if (!user)
      throw new AppError('UNAUTHENTICATED', 'The API token is not valid', {
        hint: 'Create one with: npx conversa token create --email <your e-mail>',
      });
    return user;
  }
  const cookie = request.cookies?.[SESSION_COOKIE];
  if (cookie) {
    const user = await userForSession(db, cookie);
    if (user) return user;
    if (!options.optional) throw new AppError('UNAUTHENTICATED', 'Your session has expired; sign in again');
  }
  if (options.optional) return undefined;
  throw new AppError('UNAUTHENTICATED', 'Sign in, or send an API token as "Authorization: Bearer <token>"');
}
