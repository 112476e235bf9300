// The public booking page (/book/<slug>) and the manage page (/book/manage/<token>): no session needed. The
// language comes from the browser, with a switcher; times are shown in the visitor's own time zone (the browser's),
// grouped by day; the layout is one column, so a phone shows it whole. A booking shows its confirmation with the
// time and the manage link; the manage page cancels or moves it.
import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { api, ApiError, isNotFound } from '../api/client';
import type { BookingCreated, Locale, ManagedBooking, PublicBookingPage, BookingSlots } from '../api/types';
import { ConfirmPanel, ErrorNotice, Loading, Notice } from '../components/common';
import { browserLocale, I18nProvider, useI18n } from '../i18n/i18n';
import { Link } from '../router';

const DAY = 86_400_000;
const WINDOW_DAYS = 7;

/** The visitor's zone, as the browser knows it. */
export function visitorZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/** A public page's own language state: the browser's, until the visitor picks one. */
function useVisitorLocale(): [Locale, (l: Locale) => void] {
  const [locale, setLocale] = useState<Locale>(() => browserLocale());
  useEffect(() => {
    document.documentElement.lang = locale;
  }, [locale]);
  return [locale, setLocale];
}

function LanguageSwitch({ locale, onChange }: { locale: Locale; onChange(l: Locale): void }) {
  const { t } = useI18n();
  return (
    <div className="booking-language">
      <label htmlFor="booking-language">{t('booking.language')}</label>{' '}
      <select id="booking-language" value={locale} onChange={(e) => onChange(e.target.value as Locale)}>
        <option value="en" lang="en">
          English
        </option>
        <option value="pt-BR" lang="pt-BR">
          Português (Brasil)
        </option>
      </select>
    </div>
  );
}

function useFormats(zone: string) {
  const { locale } = useI18n();
  return useMemo(
    () => ({
      day: new Intl.DateTimeFormat(locale, { weekday: 'long', day: 'numeric', month: 'long', timeZone: zone }),
      time: new Intl.DateTimeFormat(locale, { timeStyle: 'short', timeZone: zone }),
      full: new Intl.DateTimeFormat(locale, { dateStyle: 'full', timeStyle: 'short', timeZone: zone }),
    }),
    [locale, zone],
  );
}

interface Slot {
  start: string;
  end: string;
}

/** Free slots of a page, [from, from + 7 days), grouped by the visitor's days; `reload` asks again. */
function SlotPicker({ slug, onPick, reloadKey }: { slug: string; onPick(slot: Slot): void; reloadKey: number }) {
  const { t } = useI18n();
  const zone = visitorZone();
  const formats = useFormats(zone);
  const [offset, setOffset] = useState(0);
  const [slots, setSlots] = useState<Slot[] | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    const controller = new AbortController();
    const from = Date.now() + offset * WINDOW_DAYS * DAY;
    const to = from + WINDOW_DAYS * DAY;
    setSlots(null);
    setError(null);
    api<BookingSlots>(
      'GET',
      `/api/public/booking/${encodeURIComponent(slug)}/slots?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`,
      undefined,
      { signal: controller.signal, quiet401: true },
    )
      .then((answer) => setSlots(answer.slots))
      .catch((err: unknown) => {
        if (!controller.signal.aborted) setError(err);
      });
    return () => controller.abort();
  }, [slug, offset, reloadKey]);

  const days = useMemo(() => {
    const groups = new Map<string, Slot[]>();
    for (const slot of slots ?? []) {
      const key = formats.day.format(new Date(slot.start));
      groups.set(key, [...(groups.get(key) ?? []), slot]);
    }
    return [...groups.entries()];
  }, [slots, formats]);

  return (
    <section aria-labelledby="booking-slots-title" className="booking-slots">
      <h2 id="booking-slots-title">{t('booking.chooseTime')}</h2>
      <p className="help">{t('booking.timeZoneNote', { zone })}</p>
      <ErrorNotice error={error} />
      {slots === null && !error ? <Loading /> : null}
      {slots !== null && days.length === 0 ? <p className="muted">{t('booking.noSlots')}</p> : null}
      {days.map(([day, list]) => (
        <div key={day} className="booking-day">
          <h3>{day}</h3>
          <ul className="booking-times">
            {list.map((slot) => {
              const label = formats.time.format(new Date(slot.start));
              return (
                <li key={slot.start}>
                  <button
                    type="button"
                    className="button"
                    data-start={slot.start}
                    aria-label={t('booking.slotLabel', { time: formats.full.format(new Date(slot.start)) })}
                    onClick={() => onPick(slot)}
                  >
                    {label}
                  </button>
                </li>
              );
            })}
          </ul>
        </div>
      ))}
      <div className="form-actions">
        {offset > 0 ? (
          <button type="button" className="button" onClick={() => setOffset(offset - 1)}>
            {t('booking.earlier')}
          </button>
        ) : null}
        <button type="button" className="button" onClick={() => setOffset(offset + 1)}>
          {t('booking.later')}
        </button>
      </div>
    </section>
  );
}

function BookingShell({
  locale,
  setLocale,
  children,
}: {
  locale: Locale;
  setLocale(l: Locale): void;
  children: ReactNode;
}) {
  return (
    <I18nProvider locale={locale}>
      <main className="booking" id="main">
        <div className="card booking-card">
          <LanguageSwitch locale={locale} onChange={setLocale} />
          {children}
        </div>
      </main>
    </I18nProvider>
  );
}

export function BookingPage({ slug }: { slug: string }) {
  const [locale, setLocale] = useVisitorLocale();
  return (
    <BookingShell locale={locale} setLocale={setLocale}>
      <BookingBody slug={slug} />
    </BookingShell>
  );
}

function BookingBody({ slug }: { slug: string }) {
  const { t } = useI18n();
  const zone = visitorZone();
  const formats = useFormats(zone);
  const [page, setPage] = useState<PublicBookingPage | null>(null);
  const [pageError, setPageError] = useState<unknown>(null);
  const [picked, setPicked] = useState<Slot | null>(null);
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [taken, setTaken] = useState(false);
  const [reloadKey, setReloadKey] = useState(0);
  const [done, setDone] = useState<BookingCreated | null>(null);
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    const controller = new AbortController();
    api<PublicBookingPage>('GET', `/api/public/booking/${encodeURIComponent(slug)}`, undefined, {
      signal: controller.signal,
      quiet401: true,
    })
      .then(setPage)
      .catch((err: unknown) => {
        if (!controller.signal.aborted) setPageError(err);
      });
    return () => controller.abort();
  }, [slug]);

  useEffect(() => {
    document.title = `${page ? page.title : t('booking.notFoundTitle')} · Conversa`;
  }, [page, t]);

  useEffect(() => {
    if (done) heading.current?.focus();
  }, [done]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!picked) return;
    setBusy(true);
    setError(null);
    setTaken(false);
    try {
      const answer = await api<BookingCreated>(
        'POST',
        `/api/public/booking/${encodeURIComponent(slug)}`,
        { start: picked.start, name: name.trim(), email: email.trim(), ...(note.trim() ? { note: note.trim() } : {}) },
        { quiet401: true },
      );
      setDone(answer);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'SLOT_TAKEN') {
        // Someone was quicker: back to the (reloaded) times.
        setTaken(true);
        setPicked(null);
        setReloadKey((k) => k + 1);
      } else setError(err);
    } finally {
      setBusy(false);
    }
  };

  if (pageError) {
    return (
      <div role="alert">
        <h1>{t('booking.notFoundTitle')}</h1>
        {isNotFound(pageError) ? <p>{t('booking.notFoundText')}</p> : <ErrorNotice error={pageError} />}
      </div>
    );
  }
  if (!page) return <Loading />;

  if (done) {
    const managePath = new URL(done.manageUrl).pathname;
    return (
      <div data-testid="booking-confirmed">
        <h1 ref={heading} tabIndex={-1}>
          {t('booking.confirmedTitle')}
        </h1>
        <p>
          {t('booking.confirmedText', {
            title: page.title,
            time: formats.full.format(new Date(done.start)),
            email: email.trim(),
          })}
        </p>
        <p className="help">{t('booking.manageText')}</p>
        <p>
          <Link to={managePath} className="button" data-testid="manage-link">
            {t('booking.manageLink')}
          </Link>
        </p>
      </div>
    );
  }

  return (
    <>
      <h1>{page.title}</h1>
      <p className="muted">
        {t('booking.with', { name: page.owner.name })} · {t('booking.duration', { minutes: page.durationMinutes })}
      </p>
      {taken ? <Notice kind="warning">{t('booking.takenReloaded')}</Notice> : null}
      {picked ? (
        <form onSubmit={submit} noValidate aria-labelledby="booking-form-title" data-testid="booking-form">
          <h2 id="booking-form-title">{t('booking.yourDetails')}</h2>
          <p>
            <strong>{t('booking.selected', { time: formats.full.format(new Date(picked.start)) })}</strong>{' '}
            <button type="button" className="button" onClick={() => setPicked(null)}>
              {t('booking.change')}
            </button>
          </p>
          <div className="field">
            <label htmlFor="booking-name">{t('booking.name')}</label>
            <input
              id="booking-name"
              name="name"
              autoComplete="name"
              required
              value={name}
              onChange={(e) => setName(e.target.value)}
            />
          </div>
          <div className="field">
            <label htmlFor="booking-email">{t('booking.email')}</label>
            <input
              id="booking-email"
              name="email"
              type="email"
              autoComplete="email"
              required
              value={email}
              onChange={(e) => setEmail(e.target.value)}
            />
          </div>
          <div className="field">
            <label htmlFor="booking-note">{t('booking.note')}</label>
            <textarea id="booking-note" name="note" rows={3} value={note} onChange={(e) => setNote(e.target.value)} />
          </div>
          <ErrorNotice error={error} />
          <button type="submit" className="button button-primary" disabled={busy || !name.trim() || !email.trim()}>
            {busy ? t('booking.submitting') : t('booking.submit')}
          </button>
        </form>
      ) : (
        <SlotPicker slug={slug} onPick={setPicked} reloadKey={reloadKey} />
      )}
    </>
  );
}

export function ManageBookingPage({ token }: { token: string }) {
  const [locale, setLocale] = useVisitorLocale();
  return (
    <BookingShell locale={locale} setLocale={setLocale}>
      <ManageBody token={token} />
    </BookingShell>
  );
}

function ManageBody({ token }: { token: string }) {
  const { t } = useI18n();
  const formats = useFormats(visitorZone());
  const [booking, setBooking] = useState<ManagedBooking | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [confirming, setConfirming] = useState(false);
  const [moving, setMoving] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [reloadKey, setReloadKey] = useState(0);
  const base = `/api/public/bookings/${encodeURIComponent(token)}`;

  useEffect(() => {
    const controller = new AbortController();
    api<ManagedBooking>('GET', base, undefined, { signal: controller.signal, quiet401: true })
      .then(setBooking)
      .catch((err: unknown) => {
        if (!controller.signal.aborted) setLoadError(err);
      });
    return () => controller.abort();
  }, [base]);

  useEffect(() => {
    document.title = `${t('booking.manageTitle')} · Conversa`;
  }, [t]);

  const act = useCallback(
    async (path: string, body: unknown, done: (b: ManagedBooking) => string) => {
      setBusy(true);
      setError(null);
      try {
        const answer = await api<ManagedBooking>('POST', `${base}${path}`, body, { quiet401: true });
        setBooking(answer);
        setMessage(done(answer));
        setConfirming(false);
        setMoving(false);
      } catch (err) {
        setError(err);
        if (err instanceof ApiError && err.code === 'SLOT_TAKEN') setReloadKey((k) => k + 1);
      } finally {
        setBusy(false);
      }
    },
    [base],
  );

  if (loadError) {
    return (
      <div role="alert">
        <h1>{t('booking.manageTitle')}</h1>
        {isNotFound(loadError) ? <p>{t('booking.manageNotFound')}</p> : <ErrorNotice error={loadError} />}
      </div>
    );
  }
  if (!booking) return <Loading />;
  const cancelled = booking.state === 'cancelled';
  return (
    <div data-testid="manage-booking" data-state={booking.state}>
      <h1>{t('booking.manageTitle')}</h1>
      <p>
        <strong>{booking.title}</strong> ·{' '}
        {cancelled
          ? t('booking.stateCancelled')
          : t('booking.stateConfirmed', { time: formats.full.format(new Date(booking.start)) })}
      </p>
      {message ? (
        <p className="notice notice-success" role="status">
          {message}
        </p>
      ) : null}
      <ErrorNotice error={error} />
      {cancelled ? (
        <p>
          <Link to={`/book/${encodeURIComponent(booking.slug)}`} className="button">
            {t('booking.bookAgain')}
          </Link>
        </p>
      ) : confirming ? (
        <ConfirmPanel
          id="cancel-booking"
          title={t('booking.cancelConfirmTitle')}
          text={t('booking.cancelConfirmText')}
          confirmLabel={t('booking.cancel')}
          confirmClass="button-danger"
          busy={busy}
          onConfirm={() => void act('/cancel', undefined, () => t('booking.cancelled'))}
          onCancel={() => setConfirming(false)}
        />
      ) : moving ? (
        <>
          <SlotPicker
            slug={booking.slug}
            reloadKey={reloadKey}
            onPick={(slot) =>
              void act('/move', { start: slot.start }, (b) =>
                t('booking.moved', { time: formats.full.format(new Date(b.start)) }),
              )
            }
          />
          <button type="button" className="button" onClick={() => setMoving(false)}>
            {t('common.cancel')}
          </button>
        </>
      ) : (
        <div className="form-actions">
          <button type="button" className="button" onClick={() => setMoving(true)}>
            {t('booking.move')}
          </button>
          <button type="button" className="button button-danger" onClick={() => setConfirming(true)}>
            {t('booking.cancel')}
          </button>
        </div>
      )}
    </div>
  );
}
