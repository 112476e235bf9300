// The "Sequences" section of a contact's page (issue 17): each sequence the contact is or was enrolled in
// (GET /api/contacts/:id/enrollments), its state, the step reached, when the next one is due, and each step sent
// with a link to the message. Nothing at all when the server has no such route (404) or the contact was never
// enrolled, so the page of someone never contacted by a sequence stays as it was.
import { api, isNotFound } from '../api/client';
import { ErrorNotice, useAsync } from '../components/common';
import { useI18n } from '../i18n/i18n';
import { Link } from '../router';
import { EnrollmentStateBadge } from './sequence-enrollments';
import type { ContactEnrollmentList } from './sequence-types';

export function ContactSequences({ contactId }: { contactId: string }) {
  const { t, dateTime } = useI18n();
  const state = useAsync(
    (signal) =>
      api<ContactEnrollmentList>('GET', `/api/contacts/${encodeURIComponent(contactId)}/enrollments`, undefined, {
        signal,
      }).catch((error: unknown) => {
        if (isNotFound(error)) return { items: [] };
        throw error;
      }),
    [contactId],
  );
  const items = state.data?.items ?? [];
  if (state.error) return <ErrorNotice error={state.error} />;
  if (items.length === 0) return null;

  return (
    <section
      className="card contact-sequences"
      aria-labelledby="contact-sequences-title"
      data-testid="contact-sequences"
    >
      <h2 id="contact-sequences-title">{t('sequences.title')}</h2>
      <ul className="plain-list">
        {items.map((e) => (
          <li key={e.sequenceId} className="contact-sequence" data-state={e.state}>
            <p>
              <Link to={`/sequences/${encodeURIComponent(e.sequenceId)}`}>{e.sequenceName}</Link>{' '}
              <EnrollmentStateBadge state={e.state} />{' '}
              <span className="muted small">
                {t('sequences.stepN', { n: Math.max(0, e.step) + 1 })}
                {e.nextAt ? ` · ${t('sequences.nextOn', { time: dateTime(e.nextAt) })}` : ''}
              </span>
            </p>
            {e.steps && e.steps.some((s) => s.sentAt) ? (
              <ol className="contact-sequence-steps">
                {e.steps
                  .filter((s) => s.sentAt)
                  .map((s) => (
                    <li key={s.index}>
                      {s.messageId ? (
                        <Link to={`/messages/${encodeURIComponent(s.messageId)}`}>
                          {t('sequences.stepN', { n: s.index + 1 })}
                        </Link>
                      ) : (
                        t('sequences.stepN', { n: s.index + 1 })
                      )}{' '}
                      <span className="muted small">{t('sequences.sentOn', { time: dateTime(s.sentAt ?? '') })}</span>
                    </li>
                  ))}
              </ol>
            ) : null}
          </li>
        ))}
      </ul>
    </section>
  );
}
