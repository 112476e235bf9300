// Settings › Audit log (administrators, issue 19): who did what, to what, and when (GET /api/audit-log), newest
// first, filtered by action and by person, with "Load more" following the server's cursor. Read only: the page
// offers no way to change or remove an entry, and neither does the API.
import { useState } from 'react';
import { api, query } from '../api/client';
import type { AuditAction, AuditEntry, AuditLog, TeamUserList } from '../api/types';
import { ErrorNotice, Loading, Notice, PageHeader, useAsync } from '../components/common';
import { useI18n } from '../i18n/i18n';
import type { MessageKey } from '../i18n/messages-en';
import { useSession } from '../session';

/** Every action the server records, with its words; a Record so a new action without a text fails to compile. */
const ACTION_TEXT: Record<AuditAction, MessageKey> = {
  'auth.sign_in': 'audit.action.auth.sign_in',
  'auth.sign_in_failed': 'audit.action.auth.sign_in_failed',
  'auth.sign_out': 'audit.action.auth.sign_out',
  'mailbox.connected': 'audit.action.mailbox.connected',
  'mailbox.changed': 'audit.action.mailbox.changed',
  'mailbox.deleted': 'audit.action.mailbox.deleted',
  'mailbox.smtp_mode': 'audit.action.mailbox.smtp_mode',
  'user.invited': 'audit.action.user.invited',
  'user.invitation_accepted': 'audit.action.user.invitation_accepted',
  'user.role_changed': 'audit.action.user.role_changed',
  'user.deactivated': 'audit.action.user.deactivated',
  'user.reactivated': 'audit.action.user.reactivated',
  'user.password_changed': 'audit.action.user.password_changed',
  'token.created': 'audit.action.token.created',
  'token.revoked': 'audit.action.token.revoked',
  'settings.changed': 'audit.action.settings.changed',
  'org.plan_changed': 'audit.action.org.plan_changed',
  'contact.exported': 'audit.action.contact.exported',
  'contact.erased': 'audit.action.contact.erased',
  'backup.created': 'audit.action.backup.created',
  'backup.restored': 'audit.action.backup.restored',
};
const ACTIONS = Object.keys(ACTION_TEXT) as AuditAction[];
const PAGE = 50;

/** The details as "key: value" pairs, for reading; they hold no secrets (the server never stores any). */
function detailsText(details: AuditEntry['details']): string {
  if (!details) return '';
  return Object.entries(details)
    .map(([key, value]) => `${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(', ');
}

export function AuditLogPage() {
  const { t, dateTime } = useI18n();
  const { user: me } = useSession();
  const [action, setAction] = useState<AuditAction | ''>('');
  const [actorId, setActorId] = useState('');
  // Older pages, continuing the first page they were loaded after: a filter change, or a first page reloaded with
  // newer entries, starts again from the newest (so no entry is shown twice).
  const [more, setMore] = useState<{ after: string; items: AuditEntry[]; cursor: string | null } | null>(null);
  const [moreError, setMoreError] = useState<unknown>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const team = useAsync(
    (signal) =>
      me.isAdmin
        ? api<TeamUserList>('GET', '/api/users', undefined, { signal })
        : Promise.resolve<TeamUserList>({ items: [] }),
    [me.isAdmin],
  );
  const filters = query({ action, actorId, limit: PAGE });
  const first = useAsync(
    (signal) =>
      me.isAdmin
        ? api<AuditLog>('GET', `/api/audit-log${filters}`, undefined, { signal })
        : Promise.resolve<AuditLog>({ items: [], nextBefore: null }),
    [me.isAdmin, filters],
  );
  const firstCursor = first.data?.nextBefore ?? null;
  const older = more && more.after === `${filters} ${firstCursor}` ? more : null;
  const cursor = older ? older.cursor : firstCursor;

  const crumbs = [{ label: t('settings.title'), to: '/settings' }, { label: t('audit.title') }];
  if (!me.isAdmin) {
    return (
      <section>
        <PageHeader title={t('audit.title')} crumbs={crumbs} />
        <Notice kind="warning">{t('audit.adminsOnly')}</Notice>
      </section>
    );
  }

  const loadMore = async () => {
    if (!cursor) return;
    setLoadingMore(true);
    setMoreError(null);
    try {
      const page = await api<AuditLog>(
        'GET',
        `/api/audit-log${query({ action, actorId, limit: PAGE, before: cursor })}`,
      );
      const after = `${filters} ${firstCursor}`;
      setMore({ after, items: [...(older?.items ?? []), ...page.items], cursor: page.nextBefore });
    } catch (error) {
      setMoreError(error);
    } finally {
      setLoadingMore(false);
    }
  };

  const items = [...(first.data?.items ?? []), ...(older?.items ?? [])];
  return (
    <section>
      <PageHeader title={t('audit.title')} crumbs={crumbs} />
      <p className="muted">{t('audit.intro')}</p>
      <form className="form-grid" onSubmit={(event) => event.preventDefault()} data-testid="audit-filters">
        <div className="field">
          <label htmlFor="audit-action">{t('audit.filterAction')}</label>
          <select id="audit-action" value={action} onChange={(e) => setAction(e.target.value as AuditAction | '')}>
            <option value="">{t('audit.allActions')}</option>
            {ACTIONS.map((name) => (
              <option key={name} value={name}>
                {t(ACTION_TEXT[name])}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="audit-actor">{t('audit.filterActor')}</label>
          <select id="audit-actor" value={actorId} onChange={(e) => setActorId(e.target.value)}>
            <option value="">{t('audit.allActors')}</option>
            {(team.data?.items ?? []).map((member) => (
              <option key={member.id} value={member.id}>
                {member.name ? `${member.name} (${member.email})` : member.email}
              </option>
            ))}
          </select>
        </div>
      </form>
      <ErrorNotice error={first.error} />
      {first.loading && !first.data ? <Loading /> : null}
      {first.data && items.length === 0 ? <p className="empty">{t('audit.empty')}</p> : null}
      {items.length > 0 ? (
        <div className="table-scroll">
          <table className="report audit-table" data-testid="audit-log">
            <thead>
              <tr>
                <th scope="col">{t('audit.at')}</th>
                <th scope="col">{t('audit.actor')}</th>
                <th scope="col">{t('audit.action')}</th>
                <th scope="col">{t('audit.target')}</th>
                <th scope="col">{t('audit.details')}</th>
              </tr>
            </thead>
            <tbody>
              {items.map((entry) => (
                <tr key={entry.id} data-testid="audit-entry" data-id={entry.id} data-action={entry.action}>
                  <td data-label={t('audit.at')}>
                    <time dateTime={entry.at}>{dateTime(entry.at)}</time>
                  </td>
                  <td data-label={t('audit.actor')}>
                    {entry.actorName ?? (entry.actorId ? t('audit.removedUser') : t('audit.system'))}
                  </td>
                  <td data-label={t('audit.action')}>{t(ACTION_TEXT[entry.action])}</td>
                  <td data-label={t('audit.target')}>{entry.target ?? ''}</td>
                  <td data-label={t('audit.details')} className="audit-details">
                    {detailsText(entry.details)}
                    {entry.ip ? (
                      <span className="muted">
                        {entry.details ? ' · ' : ''}
                        {t('audit.ip', { ip: entry.ip })}
                      </span>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <ErrorNotice error={moreError} />
      {cursor ? (
        <p>
          <button type="button" className="button" onClick={() => void loadMore()} disabled={loadingMore}>
            {loadingMore ? t('common.loading') : t('common.loadMore')}
          </button>
        </p>
      ) : null}
    </section>
  );
}
