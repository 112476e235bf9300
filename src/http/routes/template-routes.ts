// Templates and their preview (issue 15): list, create, read, change, remove; render a saved template or unsaved
// text against a contact. Every HTML that is saved or rendered goes through the sanitiser for authored mail first,
// so a shared template cannot carry script into a colleague's compose window or preview.
import { z } from 'zod';
import { sanitizeAuthoredHtml } from '../../mail/mime/sanitize-html.js';
import type { Db } from '../../storage/database.js';
import { mergeSourceFor, renderSubjectAndHtml } from '../../templates/merge-source.js';
import {
  createTemplate,
  deleteTemplate,
  getTemplate,
  listTemplates,
  TEMPLATE_HTML_MAX_BYTES,
  TEMPLATE_NAME_MAX,
  TEMPLATE_SUBJECT_MAX,
  updateTemplate,
} from '../../templates/templates.js';
import type { ApiRouter } from '../api-router.js';
import { renderedTemplateSchema, templateListSchema, templateSchema } from '../api-schemas.js';
import { idParams } from './schemas.js';

const name = z.string().trim().min(1, 'a template needs a name').max(TEMPLATE_NAME_MAX);
// A subject is one header line: a line break in it could start a header of its own.
const subject = z
  .string()
  .max(TEMPLATE_SUBJECT_MAX)
  .refine((s) => !/[\r\n]/.test(s), 'a subject is one line');
const html = z
  .string()
  .refine(
    (h) => Buffer.byteLength(h, 'utf8') <= TEMPLATE_HTML_MAX_BYTES,
    `at most ${TEMPLATE_HTML_MAX_BYTES / 1024} KB of HTML`,
  );
const contactId = z.string().uuid('not a valid id').optional().describe('The contact whose values fill the fields');

export function templateRoutes(router: ApiRouter, db: Db): void {
  router.route({
    method: 'GET',
    path: '/api/templates',
    summary: "Your personal templates and your organisation's shared ones, by name",
    tag: 'templates',
    auth: 'user',
    responses: { 200: { description: 'Templates', schema: templateListSchema } },
    handler: async ({ user }) => ({ items: await listTemplates(db, user) }),
  });

  router.route({
    method: 'POST',
    path: '/api/templates',
    summary:
      'Create a template; merge fields {{contact.firstName}}, {{contact.lastName}}, {{contact.company}}, {{user.name}}, with fallbacks {{contact.firstName | "there"}}. Shared ones: administrators only',
    tag: 'templates',
    auth: 'user',
    status: 201,
    body: z.strictObject({ name, subject, html, shared: z.boolean().optional() }),
    responses: { 201: { description: 'Created (HTML sanitised)', schema: templateSchema } },
    handler: ({ user, body }) => createTemplate(db, user, body, sanitizeAuthoredHtml),
  });

  // Before /api/templates/:id, so "render" is never read as an id (it is not a UUID anyway).
  router.route({
    method: 'POST',
    path: '/api/templates/render',
    summary: 'Preview unsaved text: render subject and HTML against a contact (or none); missing fields are listed',
    tag: 'templates',
    auth: 'user',
    body: z.strictObject({ subject: subject.optional(), html, contactId }),
    responses: { 200: { description: 'Rendered', schema: renderedTemplateSchema } },
    handler: async ({ user, body }) => {
      const source = await mergeSourceFor(db, user, { contactId: body.contactId });
      return renderSubjectAndHtml(body.subject ?? '', sanitizeAuthoredHtml(body.html), source);
    },
  });

  router.route({
    method: 'GET',
    path: '/api/templates/:id',
    summary: 'One template',
    tag: 'templates',
    auth: 'user',
    params: idParams,
    responses: { 200: { description: 'The template', schema: templateSchema } },
    handler: ({ user, params }) => getTemplate(db, user, params.id),
  });

  router.route({
    method: 'PATCH',
    path: '/api/templates/:id',
    summary:
      'Change a template (shared ones: administrators only, else 403); an administrator making a shared one personal takes it as theirs',
    tag: 'templates',
    auth: 'user',
    params: idParams,
    body: z.strictObject({
      name: name.optional(),
      subject: subject.optional(),
      html: html.optional(),
      shared: z.boolean().optional(),
    }),
    responses: { 200: { description: 'The template', schema: templateSchema } },
    handler: ({ user, params, body }) => updateTemplate(db, user, params.id, body, sanitizeAuthoredHtml),
  });

  router.route({
    method: 'DELETE',
    path: '/api/templates/:id',
    summary: 'Remove a template (shared ones: administrators only)',
    tag: 'templates',
    auth: 'user',
    params: idParams,
    status: 204,
    responses: { 204: { description: 'Removed' } },
    handler: ({ user, params }) => deleteTemplate(db, user, params.id),
  });

  router.route({
    method: 'POST',
    path: '/api/templates/:id/render',
    summary:
      'Render a template against a contact (or none): the preview and what compose inserts; fields without value or fallback stay as written and are listed in `missing`',
    tag: 'templates',
    auth: 'user',
    params: idParams,
    // Optional: without a body (or a contact) only the fallbacks and the writer's own fields fill in.
    body: z.strictObject({ contactId }).optional(),
    responses: { 200: { description: 'Rendered', schema: renderedTemplateSchema } },
    handler: async ({ user, params, body }) => {
      const template = await getTemplate(db, user, params.id);
      const source = await mergeSourceFor(db, user, { contactId: body?.contactId });
      return renderSubjectAndHtml(template.subject, template.html, source);
    },
  });
}
