// Settings › Booking pages (/settings/booking): the user's public booking pages — create, edit, switch off,
// delete, copy the link. Working hours are entered as one daily window on chosen weekdays (the API takes any
// number of windows per day; pages made through the API keep theirs until edited here).
import { useEffect, useState, type FormEvent } from 'react';
import { api } from '../api/client';
import type { BookingHours, BookingPage, BookingPageList } from '../api/types';
import { useAccounts } from '../accounts';
import { ConfirmPanel, CopyButton, ErrorNotice, Loading, Notice, PageHeader, useAsync } from '../components/common';
import { useI18n, type MessageKey } from '../i18n/i18n';
import { visitorZone } from './booking-page';

const WEEKDAYS = ['1', '2', '3', '4', '5', '6', '7'] as const;

interface Draft {
  slug: string;
  title: string;
  durationMinutes: number;
  accountId: string;
  timeZone: string;
  days: string[];
  from: string;
  to: string;
  bufferMinutes: number;
  minNoticeMinutes: number;
  horizonDays: number;
  active: boolean;
}

function draftOf(page: BookingPage | null, accountId: string): Draft {
  if (!page)
    return {
      slug: '',
      title: '',
      durationMinutes: 30,
      accountId,
      timeZone: visitorZone(),
      days: ['1', '2', '3', '4', '5'],
      from: '09:00',
      to: '17:00',
      bufferMinutes: 0,
      minNoticeMinutes: 120,
      horizonDays: 60,
      active: true,
    };
  const days = WEEKDAYS.filter((d) => (page.hours[d] ?? []).length > 0);
  const first = days.length > 0 ? page.hours[days[0]!]![0]! : ['09:00', '17:00'];
  return {
    slug: page.slug,
    title: page.title,
    durationMinutes: page.durationMinutes,
    accountId: page.accountId,
    timeZone: page.timeZone,
    days,
    from: first[0]!,
    to: first[1]!,
    bufferMinutes: page.bufferMinutes,
    minNoticeMinutes: page.minNoticeMinutes,
    horizonDays: page.horizonDays,
    active: page.active,
  };
}

function hoursOf(draft: Draft): BookingHours {
  return Object.fromEntries(
    WEEKDAYS.map((d) => [d, draft.days.includes(d) ? [[draft.from, draft.to] as [string, string]] : []]),
  );
}

export function BookingSettingsPage() {
  const { t } = useI18n();
  const pages = useAsync((signal) => api<BookingPageList>('GET', '/api/booking-pages', undefined, { signal }), []);
  const [editing, setEditing] = useState<BookingPage | 'new' | null>(null);
  const [deleting, setDeleting] = useState<BookingPage | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const remove = async (page: BookingPage) => {
    setBusy(true);
    setError(null);
    try {
      await api('DELETE', `/api/booking-pages/${page.id}`);
      setDeleting(null);
      await pages.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section>
      <PageHeader
        title={t('bookingSettings.title')}
        crumbs={[{ label: t('settings.title'), to: '/settings' }, { label: t('bookingSettings.title') }]}
        actions={
          <button type="button" className="button button-primary" onClick={() => setEditing('new')}>
            {t('bookingSettings.new')}
          </button>
        }
      />
      <div className="settings-grid">
        {editing ? (
          <PageForm
            page={editing === 'new' ? null : editing}
            onDone={async () => {
              setEditing(null);
              await pages.reload();
            }}
            onCancel={() => setEditing(null)}
          />
        ) : null}
        <section className="card" aria-labelledby="booking-pages-title">
          <h2 id="booking-pages-title">{t('bookingSettings.title')}</h2>
          <p className="muted">{t('bookingSettings.intro')}</p>
          <ErrorNotice error={pages.error ?? error} />
          {pages.loading && !pages.data ? <Loading /> : null}
          {pages.data && pages.data.items.length === 0 ? <p>{t('bookingSettings.none')}</p> : null}
          <ul className="booking-pages-list">
            {pages.data?.items.map((page) => (
              <li key={page.id} data-slug={page.slug}>
                <p>
                  <strong>{page.title}</strong>
                  {page.active ? '' : ` (${t('bookingSettings.off')})`}
                  <br />
                  <a href={page.url} target="_blank" rel="noopener noreferrer">
                    {page.url}
                  </a>
                  {page.team ? (
                    <>
                      <br />
                      <span className="muted">{t('bookingSettings.team', { count: page.team.accountIds.length })}</span>
                    </>
                  ) : null}
                </p>
                <div className="form-actions">
                  <CopyButton text={page.url} label={t('bookingSettings.copyLink')} />
                  <button type="button" className="button button-small" onClick={() => setEditing(page)}>
                    {t('bookingSettings.edit', { title: page.title })}
                  </button>
                  <button type="button" className="button button-small button-danger" onClick={() => setDeleting(page)}>
                    {t('bookingSettings.delete')}
                  </button>
                </div>
                {deleting?.id === page.id ? (
                  <ConfirmPanel
                    id={`delete-${page.id}`}
                    title={t('bookingSettings.deleteConfirmTitle', { title: page.title })}
                    text={t('bookingSettings.deleteConfirmText')}
                    confirmLabel={t('bookingSettings.delete')}
                    confirmClass="button-danger"
                    busy={busy}
                    onConfirm={() => void remove(page)}
                    onCancel={() => setDeleting(null)}
                  />
                ) : null}
              </li>
            ))}
          </ul>
        </section>
      </div>
    </section>
  );
}

function PageForm({ page, onDone, onCancel }: { page: BookingPage | null; onDone(): Promise<void>; onCancel(): void }) {
  const { t } = useI18n();
  const { accounts } = useAccounts();
  const [draft, setDraft] = useState<Draft>(() => draftOf(page, accounts[0]?.id ?? ''));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    if (!draft.accountId && accounts[0]) setDraft((d) => ({ ...d, accountId: accounts[0]!.id }));
  }, [accounts, draft.accountId]);
  const set = <K extends keyof Draft>(key: K, value: Draft[K]) => setDraft((d) => ({ ...d, [key]: value }));

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    const body = {
      slug: draft.slug.trim(),
      title: draft.title.trim(),
      durationMinutes: draft.durationMinutes,
      accountId: draft.accountId,
      timeZone: draft.timeZone.trim(),
      hours: hoursOf(draft),
      bufferMinutes: draft.bufferMinutes,
      minNoticeMinutes: draft.minNoticeMinutes,
      horizonDays: draft.horizonDays,
      active: draft.active,
    };
    try {
      if (page) await api('PATCH', `/api/booking-pages/${page.id}`, body);
      else await api('POST', '/api/booking-pages', body);
      await onDone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const number = (key: 'durationMinutes' | 'bufferMinutes' | 'minNoticeMinutes' | 'horizonDays', label: MessageKey) => (
    <div className="field">
      <label htmlFor={`booking-${key}`}>{t(label)}</label>
      <input
        id={`booking-${key}`}
        type="number"
        min={0}
        value={draft[key]}
        onChange={(e) => set(key, Number(e.target.value))}
      />
    </div>
  );

  return (
    <section className="card" aria-labelledby="booking-form-title">
      <h2 id="booking-form-title">
        {page ? t('bookingSettings.edit', { title: page.title }) : t('bookingSettings.new')}
      </h2>
      {accounts.length === 0 ? <Notice kind="warning">{t('bookingSettings.noAccounts')}</Notice> : null}
      <form onSubmit={submit} noValidate data-testid="booking-page-form">
        <div className="field">
          <label htmlFor="booking-title">{t('bookingSettings.pageTitle')}</label>
          <input id="booking-title" value={draft.title} onChange={(e) => set('title', e.target.value)} required />
        </div>
        <div className="field">
          <label htmlFor="booking-slug">{t('bookingSettings.slug')}</label>
          <input
            id="booking-slug"
            value={draft.slug}
            onChange={(e) => set('slug', e.target.value.toLowerCase())}
            aria-describedby="booking-slug-help"
            required
          />
          <p className="help" id="booking-slug-help">
            {t('bookingSettings.slugHelp')}
          </p>
        </div>
        {number('durationMinutes', 'bookingSettings.duration')}
        <div className="field">
          <label htmlFor="booking-account">{t('bookingSettings.account')}</label>
          <select id="booking-account" value={draft.accountId} onChange={(e) => set('accountId', e.target.value)}>
            {accounts.map((a) => (
              <option key={a.id} value={a.id}>
                {a.email}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="booking-zone">{t('bookingSettings.timeZone')}</label>
          <input id="booking-zone" value={draft.timeZone} onChange={(e) => set('timeZone', e.target.value)} />
        </div>
        <fieldset className="field">
          <legend>{t('bookingSettings.days')}</legend>
          <div className="weekday-checks">
            {WEEKDAYS.map((d) => (
              <label key={d}>
                <input
                  type="checkbox"
                  checked={draft.days.includes(d)}
                  onChange={(e) =>
                    set('days', e.target.checked ? [...draft.days, d].sort() : draft.days.filter((x) => x !== d))
                  }
                />{' '}
                {t(`weekday.${d}` as MessageKey)}
              </label>
            ))}
          </div>
        </fieldset>
        <div className="field">
          <label htmlFor="booking-from">{t('bookingSettings.from')}</label>
          <input id="booking-from" type="time" value={draft.from} onChange={(e) => set('from', e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="booking-to">{t('bookingSettings.to')}</label>
          <input id="booking-to" type="time" value={draft.to} onChange={(e) => set('to', e.target.value)} />
        </div>
        {number('bufferMinutes', 'bookingSettings.buffer')}
        {number('minNoticeMinutes', 'bookingSettings.notice')}
        {number('horizonDays', 'bookingSettings.horizon')}
        <div className="field">
          <label>
            <input type="checkbox" checked={draft.active} onChange={(e) => set('active', e.target.checked)} />{' '}
            {t('bookingSettings.active')}
          </label>
        </div>
        <ErrorNotice error={error} />
        <div className="form-actions">
          <button type="submit" className="button button-primary" disabled={busy || !draft.accountId}>
            {page ? t('bookingSettings.save') : t('bookingSettings.create')}
          </button>
          <button type="button" className="button" onClick={onCancel}>
            {t('common.cancel')}
          </button>
        </div>
      </form>
    </section>
  );
}
