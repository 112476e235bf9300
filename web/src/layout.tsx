// The signed-in frame: skip link, the main navigation (Contacts · Conversations › E-mail › Inbox ·
// Meetings · Settings), the reconnect banner, and the page the path names.
import type { ReactNode } from 'react';
import { useAccounts } from './accounts';
import { useI18n } from './i18n/i18n';
import { ContactPage } from './pages/contact-page';
import { ContactsPage } from './pages/contacts-page';
import { InboxPage } from './pages/inbox-page';
import { MeetingsPage } from './pages/meetings-page';
import { NotFoundPage } from './pages/not-found-page';
import { SettingsPage } from './pages/settings-page';
import { ThreadPage } from './pages/thread-page';
import { RemindersNavLink, RemindersPage } from './pages/reminders-page';
import { ScheduledPage } from './pages/scheduled-page';
import { EmailSettingsPage } from './settings/email-settings-page';
import { ProfilePage } from './settings/profile-page';
import { UsersPage } from './settings/users-page';
import { AuditLogPage } from './settings/audit-log-page';
import { TemplatesPage } from './settings/templates-page';
import { BookingSettingsPage } from './booking/booking-settings-page';
import { Link, matchPath, useLocation } from './router';
import { useSession } from './session';
import { useUnreadCount } from './live/live-events';
import { SequencesPage } from './sequences/sequences-page';
import { SequenceEditorPage } from './sequences/sequence-editor';

interface Route {
  pattern: string;
  render(params: Record<string, string>): ReactNode;
}

const routes: Route[] = [
  { pattern: '/inbox', render: () => <InboxPage /> },
  { pattern: '/threads/:id', render: (p) => <ThreadPage threadId={p.id!} /> },
  { pattern: '/messages/:id', render: (p) => <ThreadPage messageId={p.id!} /> },
  { pattern: '/contacts', render: () => <ContactsPage /> },
  { pattern: '/contacts/:id', render: (p) => <ContactPage id={p.id!} /> },
  { pattern: '/meetings', render: () => <MeetingsPage /> },
  { pattern: '/reminders', render: () => <RemindersPage /> },
  { pattern: '/scheduled', render: () => <ScheduledPage /> },
  { pattern: '/settings', render: () => <SettingsPage /> },
  { pattern: '/settings/email', render: () => <EmailSettingsPage /> },
  { pattern: '/settings/profile', render: () => <ProfilePage /> },
  { pattern: '/settings/users', render: () => <UsersPage /> },
  { pattern: '/settings/audit-log', render: () => <AuditLogPage /> },
  { pattern: '/settings/templates', render: () => <TemplatesPage /> },
  { pattern: '/settings/booking', render: () => <BookingSettingsPage /> },
  // Sequences (issue 17): '/sequences/new' before '/sequences/:id', the first match wins.
  { pattern: '/sequences', render: () => <SequencesPage /> },
  { pattern: '/sequences/new', render: () => <SequenceEditorPage id={null} /> },
  { pattern: '/sequences/:id', render: (p) => <SequenceEditorPage id={p.id!} /> },
];

function currentPage(pathname: string): { key: string; node: ReactNode } {
  for (const route of routes) {
    const params = matchPath(route.pattern, pathname);
    if (params) return { key: route.pattern + JSON.stringify(params), node: route.render(params) };
  }
  return { key: 'not-found', node: <NotFoundPage /> };
}

export function Layout() {
  const { t } = useI18n();
  const { user, signOut } = useSession();
  const { unread } = useUnreadCount();
  const { pathname } = useLocation();
  const page = currentPage(pathname);
  const section = pathname.split('/')[1] ?? '';
  const current = (name: string | string[]) =>
    (Array.isArray(name) ? name : [name]).includes(section) ? 'page' : undefined;

  return (
    <div className="app">
      <a className="skip-link" href="#main">
        {t('nav.skip')}
      </a>
      <header className="app-header">
        <Link to="/inbox" className="brand" aria-label={t('nav.home')}>
          Conversa
        </Link>
        <nav aria-label={t('nav.main')} className="main-nav">
          <ul>
            <li>
              <Link to="/contacts" aria-current={current('contacts')}>
                {t('nav.contacts')}
              </Link>
            </li>
            <li>
              <Link to="/inbox" aria-current={current(['inbox', 'threads', 'messages'])} title={t('nav.inboxPath')}>
                <span className="nav-group" aria-hidden="true">
                  {t('nav.conversations')} ›{' '}
                </span>
                {t('nav.inbox')}
                {unread ? (
                  <span
                    className="nav-count"
                    data-testid="unread-count"
                    aria-label={t('nav.unreadCount', { count: badgeText(unread) })}
                  >
                    {badgeText(unread)}
                  </span>
                ) : null}
              </Link>
            </li>
            <li>
              <Link to="/meetings" aria-current={current('meetings')}>
                {t('nav.meetings')}
              </Link>
            </li>
            <li>
              <Link to="/sequences" aria-current={current('sequences')}>
                {t('nav.sequences')}
              </Link>
            </li>
            <li>
              <RemindersNavLink current={current(['reminders', 'scheduled'])} />
            </li>
            <li>
              <Link to="/settings" aria-current={current('settings')}>
                {t('nav.settings')}
              </Link>
            </li>
          </ul>
        </nav>
        <div className="user-menu">
          <span className="user-email" title={user.email}>
            {user.email}
          </span>
          <button type="button" className="button button-small button-quiet" onClick={() => void signOut()}>
            {t('nav.signOut')}
          </button>
        </div>
      </header>
      <ReconnectBanner onSettingsPage={pathname === '/settings/email'} />
      <main id="main" className="app-main">
        <div key={page.key}>{page.node}</div>
      </main>
    </div>
  );
}

/** The server counts unread mail up to 100 (UNREAD_COUNT_CAP); the badge shows 99+ from there. */
function badgeText(unread: number): string {
  return unread > 99 ? '99+' : String(unread);
}

function ReconnectBanner({ onSettingsPage }: { onSettingsPage: boolean }) {
  const { t } = useI18n();
  const { accounts } = useAccounts();
  const broken = accounts.filter((a) => a.status === 'needs_reconnect');
  // The e-mail settings page shows its own banner with a Reconnect button per account.
  if (broken.length === 0 || onSettingsPage) return null;
  return (
    <div className="banner banner-warning" role="alert" data-testid="reconnect-banner">
      <p>
        {t('reconnect.banner', { emails: broken.map((a) => a.email).join(', ') })}{' '}
        <Link to="/settings/email">{t('reconnect.goToSettings')}</Link>
      </p>
    </div>
  );
}
