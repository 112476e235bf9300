// Meetings: the list (GET /api/meetings) and a form to create one with CRM contacts as attendees, written to
// the chosen mailbox's calendar (POST /api/meetings). A server without calendar routes answers 404: the page
// says so instead of failing.
import { useMemo, useState, type FormEvent } from 'react';
import { api, isNotFound, query } from '../api/client';
import type { Contact, ContactPage, Meeting, MeetingList } from '../api/types';
import { useAccounts } from '../accounts';
import { ErrorNotice, Loading, Notice, PageHeader, displayName, splitAddresses, useAsync } from '../components/common';
import { useI18n } from '../i18n/i18n';

async function loadMeetings(signal: AbortSignal): Promise<Meeting[] | null> {
  const from = new Date(Date.now() - 30 * 24 * 3600_000).toISOString();
  try {
    const page = await api<MeetingList>('GET', `/api/meetings${query({ from })}`, undefined, { signal });
    return [...page.items].sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
}

export function MeetingsPage() {
  const { t, dateTime, date, time } = useI18n();
  const state = useAsync(loadMeetings, []);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<Meeting | null>(null);
  const unavailable = state.data === null;
  const now = Date.now();
  const upcoming = (state.data ?? []).filter((m) => Date.parse(m.end) >= now);
  const past = (state.data ?? []).filter((m) => Date.parse(m.end) < now).reverse();

  const list = (items: Meeting[], label: string) => (
    <ul className="meeting-list" aria-label={label}>
      {items.map((m) => (
        <li key={m.id} className="card meeting">
          <p className="meeting-title">
            <strong>{m.title || t('meetings.untitled')}</strong>
            {m.status === 'cancelled' ? <span className="badge badge-error">{t('meetings.cancelled')}</span> : null}
          </p>
          <p className="muted small">
            {m.allDay ? (
              <time dateTime={m.start}>{date(m.start)}</time>
            ) : (
              <>
                <time dateTime={m.start}>{dateTime(m.start)}</time> –{' '}
                <time dateTime={m.end}>
                  {new Date(m.end).toDateString() === new Date(m.start).toDateString() ? time(m.end) : dateTime(m.end)}
                </time>
              </>
            )}
            {m.location ? ` · ${m.location}` : ''}
          </p>
          {m.attendees.length > 0 ? (
            <p className="small">
              {t('meetings.attendees')}: {m.attendees.map((a) => a.name || a.address).join(', ')}
            </p>
          ) : null}
        </li>
      ))}
    </ul>
  );

  return (
    <section>
      <PageHeader
        title={t('meetings.title')}
        actions={
          <button
            type="button"
            className="button button-primary"
            onClick={() => {
              setCreated(null);
              setCreating(!creating);
            }}
            disabled={unavailable}
            aria-expanded={creating}
          >
            {t('meetings.new')}
          </button>
        }
      />
      {unavailable ? (
        <Notice kind="info">
          <p data-testid="meetings-unavailable">{t('meetings.unavailable')}</p>
        </Notice>
      ) : null}
      {created ? (
        <Notice kind="success">
          <p>{t('meetings.created', { title: created.title ?? '' })}</p>
        </Notice>
      ) : null}
      {creating ? (
        <CreateMeetingForm
          onCancel={() => setCreating(false)}
          onCreated={(meeting) => {
            setCreating(false);
            setCreated(meeting);
            void state.reload();
          }}
        />
      ) : null}
      <ErrorNotice error={state.error} />
      {state.loading && state.data === undefined ? <Loading /> : null}
      {state.data ? (
        <>
          <h2>{t('meetings.upcoming')}</h2>
          {upcoming.length === 0 ? (
            <p className="empty">{t('meetings.noneUpcoming')}</p>
          ) : (
            list(upcoming, t('meetings.upcoming'))
          )}
          {past.length > 0 ? (
            <>
              <h2>{t('meetings.past')}</h2>
              {list(past, t('meetings.past'))}
            </>
          ) : null}
        </>
      ) : null}
    </section>
  );
}

function toLocalInput(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function CreateMeetingForm({ onCancel, onCreated }: { onCancel(): void; onCreated(meeting: Meeting): void }) {
  const { t } = useI18n();
  const { accounts } = useAccounts();
  const start0 = useMemo(() => {
    const d = new Date(Date.now() + 24 * 3600_000);
    d.setMinutes(0, 0, 0);
    return d;
  }, []);
  const [accountId, setAccountId] = useState(accounts[0]?.id ?? '');
  const [title, setTitle] = useState('');
  const [start, setStart] = useState(toLocalInput(start0));
  const [end, setEnd] = useState(toLocalInput(new Date(start0.getTime() + 3600_000)));
  const [location, setLocation] = useState('');
  const [others, setOthers] = useState('');
  const [picked, setPicked] = useState<Contact[]>([]);
  const [contactQuery, setContactQuery] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [localError, setLocalError] = useState<string | null>(null);

  const found = useAsync(
    (signal) =>
      contactQuery.trim().length >= 1
        ? api<ContactPage>('GET', `/api/contacts${query({ q: contactQuery.trim(), limit: 8 })}`, undefined, { signal })
        : Promise.resolve({ items: [], nextCursor: null }),
    [contactQuery],
  );

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    setLocalError(null);
    const startAt = new Date(start);
    const endAt = new Date(end);
    if (!title.trim()) return setLocalError(t('meetings.needTitle'));
    if (!(endAt > startAt)) return setLocalError(t('meetings.endBeforeStart'));
    const attendees = [...new Set([...picked.map((c) => c.emails[0]!).filter(Boolean), ...splitAddresses(others)])];
    setBusy(true);
    try {
      const meeting = await api<Meeting>('POST', '/api/meetings', {
        accountId,
        title: title.trim(),
        start: startAt.toISOString(),
        end: endAt.toISOString(),
        ...(location.trim() ? { location: location.trim() } : {}),
        attendees,
      });
      onCreated(meeting);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <form className="card form-grid" onSubmit={submit} aria-labelledby="new-meeting-title" noValidate>
      <h2 id="new-meeting-title">{t('meetings.new')}</h2>
      <div className="field">
        <label htmlFor="meeting-account">{t('meetings.calendarOf')}</label>
        <select id="meeting-account" value={accountId} onChange={(e) => setAccountId(e.target.value)}>
          {accounts.map((a) => (
            <option key={a.id} value={a.id}>
              {a.email}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor="meeting-title">{t('meetings.titleField')}</label>
        <input id="meeting-title" value={title} onChange={(e) => setTitle(e.target.value)} required />
      </div>
      <div className="field">
        <label htmlFor="meeting-start">{t('meetings.start')}</label>
        <input
          id="meeting-start"
          type="datetime-local"
          value={start}
          onChange={(e) => setStart(e.target.value)}
          required
        />
      </div>
      <div className="field">
        <label htmlFor="meeting-end">{t('meetings.end')}</label>
        <input id="meeting-end" type="datetime-local" value={end} onChange={(e) => setEnd(e.target.value)} required />
      </div>
      <div className="field">
        <label htmlFor="meeting-location">{t('meetings.location')}</label>
        <input id="meeting-location" value={location} onChange={(e) => setLocation(e.target.value)} />
      </div>
      <fieldset className="field field-wide">
        <legend>{t('meetings.attendees')}</legend>
        {picked.length > 0 ? (
          <ul className="chips" aria-label={t('meetings.picked')}>
            {picked.map((c) => (
              <li key={c.id} className="chip">
                {displayName(c)} &lt;{c.emails[0]}&gt;
                <button
                  type="button"
                  className="chip-remove"
                  onClick={() => setPicked((list) => list.filter((x) => x.id !== c.id))}
                  aria-label={t('compose.removeAttachment', { name: displayName(c) })}
                >
                  ×
                </button>
              </li>
            ))}
          </ul>
        ) : null}
        <label htmlFor="meeting-contact-search">{t('meetings.findContact')}</label>
        <input
          id="meeting-contact-search"
          type="search"
          value={contactQuery}
          onChange={(e) => setContactQuery(e.target.value)}
          autoComplete="off"
        />
        {found.data && found.data.items.length > 0 ? (
          <ul className="pick-list" aria-label={t('meetings.contactResults')}>
            {found.data.items
              .filter((c) => !picked.some((p) => p.id === c.id) && c.emails.length > 0)
              .map((c) => (
                <li key={c.id}>
                  <button
                    type="button"
                    className="button button-small button-quiet"
                    onClick={() => setPicked((list) => [...list, c])}
                  >
                    + {displayName(c)} &lt;{c.emails[0]}&gt;
                  </button>
                </li>
              ))}
          </ul>
        ) : null}
        <label htmlFor="meeting-others">{t('meetings.otherAddresses')}</label>
        <input
          id="meeting-others"
          value={others}
          onChange={(e) => setOthers(e.target.value)}
          inputMode="email"
          autoComplete="off"
        />
      </fieldset>
      {localError ? (
        <p className="notice notice-error" role="alert">
          {localError}
        </p>
      ) : null}
      <ErrorNotice error={error} />
      <div className="form-actions">
        <button type="submit" className="button button-primary" disabled={busy || !accountId}>
          {busy ? t('common.saving') : t('meetings.create')}
        </button>
        <button type="button" className="button" onClick={onCancel}>
          {t('common.cancel')}
        </button>
      </div>
    </form>
  );
}
