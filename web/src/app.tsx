// The app's root: finds out whether Conversa is set up yet (GET /api/setup) and who is signed in (GET /api/me),
// picks the language, and shows the setup page (first run, on every path), an invitation (/invite/<token>), the
// sign-in page or the signed-in layout with its pages.
import { useCallback, useEffect, useMemo, useState } from 'react';
import { api, ApiError, UNAUTHENTICATED_EVENT } from './api/client';
import type { Org, SetupState, User, UserSettings } from './api/types';
import { AccountsProvider } from './accounts';
import { browserLocale, effectiveLocale, I18nProvider, rememberLocaleChoice, translate } from './i18n/i18n';
import { Layout } from './layout';
import { LiveProvider } from './live/live-events';
import { InvitePage } from './pages/invite-page';
import { BookingPage, ManageBookingPage } from './booking/booking-page';
import { LoginPage } from './pages/login-page';
import { SetupPage } from './pages/setup-page';
import { matchPath, navigate, useLocation } from './router';
import { SessionContext, type Session } from './session';

type Boot =
  | { state: 'loading' }
  | { state: 'signed-out' }
  | { state: 'needs-setup' }
  | { state: 'failed'; error: unknown }
  | { state: 'signed-in'; user: User; settings: UserSettings; org: Org | null };

async function loadSession(): Promise<Boot> {
  // Asked beside /api/me, not before it: a set-up Conversa (every start but the first) waits for one round trip.
  // A server without the route (older than issue 14) counts as set up.
  const setup = api<SetupState>('GET', '/api/setup', undefined, { quiet401: true }).catch(() => ({
    needsSetup: false,
  }));
  try {
    const me = api<User>('GET', '/api/me', undefined, { quiet401: true });
    me.catch(() => undefined);
    if ((await setup).needsSetup) return { state: 'needs-setup' };
    const user = await me;
    const [settings, org] = await Promise.all([
      api<UserSettings>('GET', '/api/me/settings'),
      api<Org>('GET', '/api/org').catch(() => null),
    ]);
    return { state: 'signed-in', user, settings, org };
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.code === 'USER_DEACTIVATED'))
      return { state: 'signed-out' };
    return { state: 'failed', error };
  }
}

export function App() {
  const [boot, setBoot] = useState<Boot>({ state: 'loading' });
  const location = useLocation();

  useEffect(() => {
    // A public booking page needs no session: asking for one would only log 401s in the visitor's console.
    if (!window.location.pathname.startsWith('/book/')) void loadSession().then(setBoot);
    const onSignedOut = () => setBoot({ state: 'signed-out' });
    window.addEventListener(UNAUTHENTICATED_EVENT, onSignedOut);
    return () => window.removeEventListener(UNAUTHENTICATED_EVENT, onSignedOut);
  }, []);

  const locale = boot.state === 'signed-in' ? effectiveLocale(boot.settings.locale) : browserLocale();
  useEffect(() => {
    document.documentElement.lang = locale;
  }, [locale]);

  const updateSettings = useCallback(async (patch: Partial<UserSettings>) => {
    const settings = await api<UserSettings>('PATCH', '/api/me/settings', patch);
    if (patch.locale) rememberLocaleChoice(patch.locale);
    setBoot((current) => (current.state === 'signed-in' ? { ...current, settings } : current));
    return settings;
  }, []);

  const signOut = useCallback(async () => {
    await api('POST', '/api/auth/logout').catch(() => undefined);
    setBoot({ state: 'signed-out' });
    navigate('/login', { replace: true });
  }, []);

  const updateProfile = useCallback(async (patch: { name: string }) => {
    const user = await api<User>('PATCH', '/api/me', patch);
    setBoot((current) => (current.state === 'signed-in' ? { ...current, user } : current));
    return user;
  }, []);

  const session = useMemo<Session | null>(
    () =>
      boot.state === 'signed-in'
        ? { user: boot.user, settings: boot.settings, org: boot.org, updateSettings, updateProfile, signOut }
        : null,
    [boot, updateSettings, updateProfile, signOut],
  );

  // Signed in on /login (or /): go where the user was heading.
  const href = location.href;
  useEffect(() => {
    if (boot.state !== 'signed-in') return;
    // Read from `href` itself: the location object is new at every render.
    const url = new URL(href, window.location.origin);
    if (url.pathname === '/login') navigate(safeNext(url.searchParams.get('next')), { replace: true });
    else if (url.pathname === '/') navigate('/inbox', { replace: true });
  }, [boot.state, href]);

  // Booking pages are public: no session, no setup, their own language switch (issue 16, H8).
  const manageBooking = matchPath('/book/manage/:token', location.pathname);
  if (manageBooking) return <ManageBookingPage token={manageBooking.token!} />;
  const bookingPage = matchPath('/book/:slug', location.pathname);
  if (bookingPage) return <BookingPage slug={bookingPage.slug!} />;

  if (boot.state === 'loading') {
    return (
      <p className="boot" role="status">
        {translate(locale, 'common.loading')}
      </p>
    );
  }
  if (boot.state === 'failed') {
    return (
      <I18nProvider locale={locale}>
        <div className="boot notice notice-error" role="alert">
          <p>{translate(locale, 'boot.failed')}</p>
          <button type="button" className="button" onClick={() => void loadSession().then(setBoot)}>
            {translate(locale, 'common.retry')}
          </button>
        </div>
      </I18nProvider>
    );
  }
  if (boot.state === 'needs-setup') {
    return (
      <I18nProvider locale={locale}>
        <SetupPage
          onDone={() => void loadSession().then(setBoot)}
          onAlreadySetUp={() => {
            navigate('/login', { replace: true });
            void loadSession().then(setBoot);
          }}
        />
      </I18nProvider>
    );
  }
  // An invitation opens on its own page, signed in or not: accepting it signs the newcomer in.
  const invite = matchPath('/invite/:token', location.pathname);
  if (invite) {
    return (
      <I18nProvider locale={locale}>
        <InvitePage token={invite.token!} onAccepted={() => void loadSession().then(setBoot)} />
      </I18nProvider>
    );
  }
  if (boot.state === 'signed-out' || !session) {
    const next =
      location.pathname === '/login'
        ? location.search.get('next')
        : location.pathname + (location.search.size ? `?${location.search}` : '');
    return (
      <I18nProvider locale={locale}>
        <LoginPage next={safeNext(next)} onSignedIn={() => void loadSession().then(setBoot)} />
      </I18nProvider>
    );
  }
  return (
    <I18nProvider locale={locale}>
      <SessionContext.Provider value={session}>
        <AccountsProvider>
          <LiveProvider>
            <Layout />
          </LiveProvider>
        </AccountsProvider>
      </SessionContext.Provider>
    </I18nProvider>
  );
}

/** Only our own paths: a ?next= pointing elsewhere would make the sign-in page an open redirect. */
function safeNext(next: string | null): string {
  if (
    !next ||
    !next.startsWith('/') ||
    next.startsWith('//') ||
    next.startsWith('/\\') ||
    next === '/login' ||
    next === '/'
  )
    return '/inbox';
  return next;
}
