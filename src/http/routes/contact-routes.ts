// Contacts: create, list (by address or search text), read, change, delete, and the CSV import.
import { z } from 'zod';
import { readContactsCsv } from '../../contacts/contact-csv.js';
import { contactEmailList, contactName } from '../../contacts/contact-fields.js';
import {
  createContact,
  deleteContact,
  getContact,
  importContacts,
  listContacts,
  updateContact,
} from '../../contacts/contacts.js';
import type { ReaderPool } from '../../messages/reader-pool.js';
import type { Db } from '../../storage/database.js';
import type { ApiRouter } from '../api-router.js';
import { contactPageSchema, contactSchema, importResultSchema } from '../api-schemas.js';
import { idParams, pageQuery } from './schemas.js';

const name = contactName;

const emailList = contactEmailList;

export const IMPORT_BODY_LIMIT = 10 * 1024 * 1024;

/** `readers`: the contact list runs on these worker threads when present (SQLite, reader-pool.ts). */
export function contactRoutes(router: ApiRouter, db: Db, readers?: ReaderPool): void {
  router.route({
    method: 'POST',
    path: '/api/contacts',
    summary: 'Create a contact',
    tag: 'contacts',
    auth: 'user',
    status: 201,
    body: z.strictObject({
      firstName: name,
      lastName: name,
      company: name,
      emails: emailList.min(1, 'a contact needs at least one e-mail address'),
    }),
    responses: { 201: { description: 'Created', schema: contactSchema } },
    handler: ({ user, body }) => createContact(db, user.orgId, body),
  });

  router.route({
    method: 'GET',
    path: '/api/contacts',
    summary: 'List contacts, newest first; filter by exact address or search text',
    tag: 'contacts',
    auth: 'user',
    query: z.object({ email: z.string().max(320).optional(), q: z.string().max(200).optional(), ...pageQuery }),
    responses: { 200: { description: 'A page', schema: contactPageSchema } },
    handler: ({ user, query }) => (readers ? readers.contacts(user.orgId, query) : listContacts(db, user.orgId, query)),
  });

  router.route({
    method: 'GET',
    path: '/api/contacts/:id',
    summary: 'One contact',
    tag: 'contacts',
    auth: 'user',
    params: idParams,
    responses: { 200: { description: 'The contact', schema: contactSchema } },
    handler: ({ user, params }) => getContact(db, user.orgId, params.id),
  });

  router.route({
    method: 'PATCH',
    path: '/api/contacts/:id',
    summary: 'Change a contact; `emails` replaces the whole list',
    tag: 'contacts',
    auth: 'user',
    params: idParams,
    body: z.strictObject({ firstName: name, lastName: name, company: name, emails: emailList.optional() }),
    responses: { 200: { description: 'The contact', schema: contactSchema } },
    handler: ({ user, params, body }) => updateContact(db, user.orgId, params.id, body),
  });

  router.route({
    method: 'DELETE',
    path: '/api/contacts/:id',
    summary: 'Delete a contact (mail stays stored; it is no longer attached to this contact)',
    tag: 'contacts',
    auth: 'user',
    params: idParams,
    status: 204,
    responses: { 204: { description: 'Deleted' } },
    handler: ({ user, params }) => deleteContact(db, user.orgId, params.id),
  });

  router.route({
    method: 'POST',
    path: '/api/contacts/import',
    summary: 'Import contacts from CSV; good lines are imported, bad ones reported by line',
    tag: 'contacts',
    auth: 'user',
    rawBody: {
      contentType: 'text/csv',
      description: 'UTF-8, header row; columns firstName, lastName, email (several separated by ";"), company',
    },
    bodyLimit: IMPORT_BODY_LIMIT,
    responses: {
      200: {
        description: 'What was imported',
        schema: importResultSchema,
      },
    },
    handler: async ({ user, body }) => {
      const { rows, errors } = await readContactsCsv(body as unknown as Buffer);
      return importContacts(db, user.orgId, rows, errors);
    },
  });
}
