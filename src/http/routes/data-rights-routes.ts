// Data-subject rights (LGPD/GDPR, issue 19): export everything held about a contact, and erase it. Administrators
// only: the request is the organisation's to answer, and the answer covers every mailbox, private ones included.
import { eraseContact, exportContact } from '../../contacts/data-rights.js';
import type { BlobStore } from '../../storage/blob-store.js';
import type { Db } from '../../storage/database.js';
import type { ApiRouter } from '../api-router.js';
import { contactErasureSchema, contactExportSchema } from '../api-schemas.js';
import { idParams } from './schemas.js';

export function dataRightsRoutes(router: ApiRouter, db: Db, blobs: BlobStore | undefined): void {
  router.route({
    method: 'GET',
    path: '/api/contacts/:id/export',
    summary:
      'Administrators: everything the organisation holds about a contact as JSON (message texts included; attachments by name and size, not their bytes)',
    tag: 'contacts',
    auth: 'admin',
    params: idParams,
    responses: { 200: { description: 'The export', schema: contactExportSchema } },
    handler: async ({ user, params, reply }) => {
      void reply.header('content-disposition', `attachment; filename="contact-${params.id}.json"`);
      void reply.header('cache-control', 'no-store');
      return exportContact(db, user.orgId, params.id, user.id);
    },
  });

  router.route({
    method: 'POST',
    path: '/api/contacts/:id/erase',
    summary:
      'Administrators: erase a contact, the mail in which no other contact appears, its attachments and events; its addresses are kept only as hashes so they never come back',
    tag: 'contacts',
    auth: 'admin',
    params: idParams,
    status: 202,
    responses: { 202: { description: 'Erased; what went, as counts', schema: contactErasureSchema } },
    handler: ({ user, params }) => eraseContact(db, blobs, user.orgId, params.id, user.id),
  });
}
