// Follow-ups: the user's follow-up reminders (due first, then waiting for a reply) with a link to the conversation
// and "Done", and below them the scheduled mail (scheduled-page.tsx). The navigation's badge (RemindersNavLink)
// counts the due ones; the contact page lists a contact's open reminders (ContactReminders).
import { useState } from 'react';
import { api } from '../api/client';
import type { Reminder, ReminderList } from '../api/types';
import { ErrorNotice, Loading, PageHeader, useAsync, useInterval } from '../components/common';
import { useI18n } from '../i18n/i18n';
import { Link } from '../router';
import { useLiveEvents } from '../live/live-events';
import { ScheduledSection } from './scheduled-page';

/** How often the badge asks for the count besides the live feed's `reminder.due` (a reply closes one quietly). */
const BADGE_REFRESH_MS = 60_000;

function threadLink(r: Reminder): string {
  return r.threadId ? `/threads/${r.threadId}` : `/messages/${r.messageId}`;
}

function ReminderItems({ items, onChanged }: { items: Reminder[]; onChanged(): void }) {
  const { t, dateTime } = useI18n();
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  const close = async (id: string, state: 'done' | 'cancelled') => {
    setBusy(id);
    setError(undefined);
    try {
      await api<Reminder>('PATCH', `/api/reminders/${id}`, { state });
      onChanged();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  };
  return (
    <>
      <ErrorNotice error={error} />
      <ul className="reminder-list">
        {items.map((r) => (
          <li key={r.id} className="card reminder" data-testid="reminder" data-state={r.state}>
            <p>
              <Link to={threadLink(r)}>
                <strong>{r.subject || t('reminders.noSubject')}</strong>
              </Link>{' '}
              {r.state === 'due' ? <span className="badge badge-warning">{t('reminders.due')}</span> : null}
            </p>
            <p className="muted small">
              {r.sentAt ? t('reminders.sentAt', { date: dateTime(r.sentAt) }) : t('reminders.notSentYet')} ·{' '}
              {t('reminders.dueAt', { date: dateTime(r.dueAt) })}
            </p>
            <div className="form-actions">
              <button
                type="button"
                className="button button-small"
                disabled={busy === r.id}
                onClick={() => void close(r.id, 'done')}
              >
                {t('reminders.done')}
              </button>
              <button
                type="button"
                className="button button-small button-quiet"
                disabled={busy === r.id}
                onClick={() => void close(r.id, 'cancelled')}
              >
                {t('reminders.dismiss')}
              </button>
            </div>
          </li>
        ))}
      </ul>
    </>
  );
}

export function RemindersPage() {
  const { t } = useI18n();
  const state = useAsync((signal) => api<ReminderList>('GET', '/api/reminders', undefined, { signal }), []);
  const items = state.data?.items ?? [];
  const due = items.filter((r) => r.state === 'due');
  const waiting = items.filter((r) => r.state === 'waiting');
  return (
    <section>
      <PageHeader title={t('reminders.title')} />
      <ErrorNotice error={state.error} />
      {state.loading && state.data === undefined ? <Loading /> : null}
      {state.data ? (
        <>
          {items.length === 0 ? <p className="empty">{t('reminders.none')}</p> : null}
          {due.length > 0 ? (
            <section aria-labelledby="reminders-due">
              <h2 id="reminders-due">{t('reminders.dueTitle')}</h2>
              <ReminderItems items={due} onChanged={() => void state.reload()} />
            </section>
          ) : null}
          {waiting.length > 0 ? (
            <section aria-labelledby="reminders-waiting">
              <h2 id="reminders-waiting">{t('reminders.waitingTitle')}</h2>
              <ReminderItems items={waiting} onChanged={() => void state.reload()} />
            </section>
          ) : null}
        </>
      ) : null}
      <ScheduledSection />
    </section>
  );
}

/** The navigation's link to Follow-ups, with the number of due reminders. */
export function RemindersNavLink({ current }: { current: 'page' | undefined }) {
  const { t } = useI18n();
  const state = useAsync((signal) => api<ReminderList>('GET', '/api/reminders?state=due', undefined, { signal }), []);
  useInterval(() => void state.reload(), BADGE_REFRESH_MS);
  useLiveEvents(['reminder.due'], () => void state.reload());
  const count = state.data?.items.length ?? 0;
  return (
    <Link to="/reminders" aria-current={current}>
      {t('nav.reminders')}
      {count > 0 ? (
        <>
          {' '}
          <span
            className="badge badge-warning"
            data-testid="reminders-badge"
            aria-label={t('reminders.badge', { count: String(count) })}
          >
            {count}
          </span>
        </>
      ) : null}
    </Link>
  );
}

/** A contact's open follow-ups, for the contact page (nothing when there are none). */
export function ContactReminders({ contactId }: { contactId: string }) {
  const { t } = useI18n();
  const state = useAsync(
    (signal) =>
      api<ReminderList>('GET', `/api/reminders?contactId=${encodeURIComponent(contactId)}`, undefined, { signal }),
    [contactId],
  );
  const items = state.data?.items ?? [];
  if (items.length === 0) return null;
  return (
    <section aria-labelledby="contact-reminders-title">
      <h2 id="contact-reminders-title">{t('reminders.contactTitle')}</h2>
      <ReminderItems items={items} onChanged={() => void state.reload()} />
    </section>
  );
}
