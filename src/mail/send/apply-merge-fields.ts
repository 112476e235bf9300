// POST /api/messages with templates and merge fields (issue 15): the template gives the subject and HTML the
// writer did not, and every merge field of the subject, text and HTML is filled from `contactId`, else from the
// contact of the first To address. A field left without value or fallback refuses the whole message (422
// MERGE_FIELD_MISSING) before anything is stored or queued: never "Hi ,".
import { AppError } from '../../core/app-error.js';
import type { Db } from '../../storage/database.js';
import { findMergeFields, missingMergeFieldsError, renderMergeFields } from '../../templates/merge-fields.js';
import { mergeSourceFor, type MergeWriter } from '../../templates/merge-source.js';
import { getTemplate } from '../../templates/templates.js';
import type { Actor } from '../../access/access-policy.js';
import { parseRecipient } from './compose-message.js';

export interface MergeInput {
  to: string[];
  subject?: string | undefined;
  text?: string | undefined;
  html?: string | undefined;
  inReplyTo?: string | undefined;
  templateId?: string | undefined;
  contactId?: string | undefined;
}

/** `input` with the template applied and the merge fields filled (unchanged when it names neither). */
export async function applyMergeFields<T extends MergeInput>(
  db: Db,
  writer: Actor & MergeWriter,
  input: T,
): Promise<T> {
  let { subject, html } = input;
  if (input.templateId) {
    const template = await getTemplate(db, writer, input.templateId).catch((error: unknown) => {
      if (error instanceof AppError && error.code === 'NOT_FOUND')
        throw new AppError('NOT_FOUND', 'Template not found', {
          fields: [{ path: 'body.templateId', message: 'no such template' }],
        });
      throw error;
    });
    // A reply keeps its thread's subject ("Re: …"): only new mail takes the template's.
    if (subject === undefined && !input.inReplyTo) subject = template.subject;
    if (html === undefined) html = template.html;
  }
  const texts = [subject ?? '', input.text ?? '', html ?? ''];
  if (!input.contactId && texts.every((text) => findMergeFields(text).length === 0)) {
    return { ...input, subject, html };
  }
  const firstTo = input.to.length > 0 ? parseRecipient(input.to[0]!) : null;
  const source = await mergeSourceFor(db, writer, { contactId: input.contactId, address: firstTo?.address });
  const rendered = {
    subject: subject === undefined ? undefined : renderMergeFields(subject, source.values, 'plain'),
    text: input.text === undefined ? undefined : renderMergeFields(input.text, source.values, 'plain'),
    html: html === undefined ? undefined : renderMergeFields(html, source.values, 'html'),
  };
  const missing = [
    ...new Set([
      ...(rendered.subject?.missing ?? []),
      ...(rendered.text?.missing ?? []),
      ...(rendered.html?.missing ?? []),
    ]),
  ];
  if (missing.length > 0) throw missingMergeFieldsError(missing, source.label);
  return { ...input, subject: rendered.subject?.text, text: rendered.text?.text, html: rendered.html?.text };
}
