// Scheduled mail: the user's messages waiting for their time (GET /api/messages/scheduled), each with "Change time"
// (PATCH /api/messages/:id/schedule) and "Cancel sending" (DELETE /api/messages/:id). Changing the text of a
// scheduled message is a cancel and a new message. Once a worker has taken it, the server answers SEND_STARTED and
// the list is reloaded. The list also looks again once a message's time has passed, so a sent one goes without a reload.
import { useEffect, useState, type FormEvent } from 'react';
import { api } from '../api/client';
import type { Rescheduled, ScheduledList, ScheduledMessage } from '../api/types';
import { ConfirmPanel, ErrorNotice, Loading, Notice, PageHeader, addressLabel, useAsync } from '../components/common';
import { useI18n } from '../i18n/i18n';
import { Link } from '../router';

/** `<input type="datetime-local">` wants local time without a zone: 2026-12-04T21:30. */
function localInputValue(iso: string): string {
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function ScheduledItem({ message, onChanged }: { message: ScheduledMessage; onChanged(notice: string): void }) {
  const { t, dateTime } = useI18n();
  const [mode, setMode] = useState<'idle' | 'cancel' | 'move'>('idle');
  const [when, setWhen] = useState(localInputValue(message.sendAt));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);

  const cancel = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await api<void>('DELETE', `/api/messages/${message.id}`);
      onChanged(t('scheduled.cancelled'));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const move = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      // The input is local time; the API takes an instant.
      const answer = await api<Rescheduled>('PATCH', `/api/messages/${message.id}/schedule`, {
        sendAt: new Date(when).toISOString(),
      });
      setMode('idle');
      onChanged(t('scheduled.rescheduled', { date: dateTime(answer.sendAt) }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <li className="card scheduled" data-testid="scheduled-message">
      <p>
        <Link to={message.threadId ? `/threads/${message.threadId}` : `/messages/${message.id}`}>
          <strong>{message.subject || t('reminders.noSubject')}</strong>
        </Link>
      </p>
      <p className="muted small">
        {t('scheduled.to')}: {message.to.map((a) => addressLabel(a)).join(', ')} ·{' '}
        {t('scheduled.sendAt', { date: dateTime(message.sendAt) })}
      </p>
      <ErrorNotice error={error} />
      {mode === 'cancel' ? (
        <ConfirmPanel
          id={`cancel-${message.id}`}
          title={t('scheduled.cancelTitle')}
          text={t('scheduled.cancelText')}
          confirmLabel={t('scheduled.cancel')}
          confirmClass="button-danger"
          busy={busy}
          onConfirm={() => void cancel()}
          onCancel={() => setMode('idle')}
        />
      ) : null}
      {mode === 'move' ? (
        <form className="form-inline" onSubmit={(e) => void move(e)}>
          <label>
            {t('scheduled.newTime')}{' '}
            <input type="datetime-local" required value={when} onChange={(e) => setWhen(e.target.value)} />
          </label>
          <button type="submit" className="button button-small button-primary" disabled={busy}>
            {t('common.save')}
          </button>
          <button type="button" className="button button-small" disabled={busy} onClick={() => setMode('idle')}>
            {t('common.cancel')}
          </button>
        </form>
      ) : null}
      {mode === 'idle' ? (
        <div className="form-actions">
          <button type="button" className="button button-small" onClick={() => setMode('move')}>
            {t('scheduled.reschedule')}
          </button>
          <button type="button" className="button button-small button-quiet" onClick={() => setMode('cancel')}>
            {t('scheduled.cancel')}
          </button>
        </div>
      ) : null}
    </li>
  );
}

/** The list, as a section (of the Follow-ups page) or a page of its own. */
export function ScheduledSection({ asPage = false }: { asPage?: boolean }) {
  const { t } = useI18n();
  const state = useAsync((signal) => api<ScheduledList>('GET', '/api/messages/scheduled', undefined, { signal }), []);
  const [notice, setNotice] = useState<string | null>(null);
  const items = state.data?.items ?? [];
  // The live feed has no event for a scheduled message leaving, so the list looks again shortly after the earliest
  // time has passed (then every few seconds while one is overdue, i.e. being sent): a message that left goes from
  // the list without a reload. Capped so a far time (setTimeout overflows past 24.8 days) still gets a fresh look.
  const earliest = items.length ? Math.min(...items.map((m) => Date.parse(m.sendAt))) : null;
  useEffect(() => {
    if (earliest === null || Number.isNaN(earliest)) return;
    const wait = Math.min(Math.max(earliest - Date.now() + 2_000, 5_000), 10 * 60_000);
    const timer = window.setTimeout(() => void state.reload(), wait);
    return () => window.clearTimeout(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps -- re-armed by each answer (state.data), not by reload's identity
  }, [earliest, state.data, state.error]);
  return (
    <section {...(asPage ? {} : { 'aria-labelledby': 'scheduled-title' })}>
      {asPage ? null : <h2 id="scheduled-title">{t('scheduled.title')}</h2>}
      {notice ? (
        <Notice kind="success">
          <p role="status">{notice}</p>
        </Notice>
      ) : null}
      <ErrorNotice error={state.error} />
      {state.loading && state.data === undefined ? <Loading /> : null}
      {state.data && items.length === 0 ? <p className="empty">{t('scheduled.none')}</p> : null}
      {items.length > 0 ? (
        <ul className="scheduled-list">
          {items.map((m) => (
            <ScheduledItem
              key={m.id}
              message={m}
              onChanged={(text) => {
                setNotice(text);
                void state.reload();
              }}
            />
          ))}
        </ul>
      ) : null}
    </section>
  );
}

export function ScheduledPage() {
  const { t } = useI18n();
  return (
    <section>
      <PageHeader title={t('scheduled.title')} />
      <ScheduledSection asPage />
    </section>
  );
}
