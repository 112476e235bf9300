// Perfil › Configurações › Configurações de e-mail: the user's mailboxes with their sync health, the connect
// flow (and the OAuth callback's landing: ?connected=<id> or ?error=CODE, a code only), reconnect, Editar SMTP,
// the BCC address, Excluir, and the other e-mail settings (criação automática de contatos).
import { useEffect, useState } from 'react';
import { api } from '../api/client';
import type { EmailAccount, Plan, ProviderList, ProviderPreset } from '../api/types';
import { useAccounts } from '../accounts';
import {
  CopyButton,
  ConfirmPanel,
  ErrorNotice,
  Loading,
  Notice,
  PageHeader,
  errorTitleKey,
  isKnownErrorCode,
  useAsync,
  useInterval,
} from '../components/common';
import { useI18n, type MessageKey } from '../i18n/i18n';
import { navigate, useLocation } from '../router';
import { useSession } from '../session';
import { AccountForm } from './account-form';
import { AddressVerification } from './address-verification';
import { SmtpEditor } from './smtp-editor';
import { SignatureEditor } from './signature-editor';

type Landing = { kind: 'connected'; id: string } | { kind: 'error'; code: string } | null;

export function EmailSettingsPage() {
  const { t, serverText } = useI18n();
  const { org } = useSession();
  const { accounts, loaded, error, refresh, put, remove } = useAccounts();
  const { href } = useLocation();
  const providers = useAsync((signal) => api<ProviderList>('GET', '/api/providers', undefined, { signal }), []);
  const [connecting, setConnecting] = useState(false);
  const [editing, setEditing] = useState<string | null>(null);
  const [landing, setLanding] = useState<Landing>(null);
  const [justConnected, setJustConnected] = useState<string | null>(null);

  // The OAuth callback lands here once; keep its news, then clean the address bar.
  useEffect(() => {
    // Read from `href` itself: the location's `search` is a new object at every render.
    const params = new URL(href, window.location.origin).searchParams;
    const connected = params.get('connected');
    const code = params.get('error');
    if (connected) setLanding({ kind: 'connected', id: connected });
    // Anyone can craft this address and send it to a user: only the code is read, and only a known code shows
    // its own text (the dictionary's); the callback's free-text `message` is never shown.
    else if (code) setLanding({ kind: 'error', code: isKnownErrorCode(code) ? code : 'generic' });
    if (connected || code) {
      navigate('/settings/email', { replace: true });
      void refresh();
    }
  }, [href, refresh]);

  useEffect(() => {
    void refresh();
  }, [refresh]);
  // Sync health changes by itself (progress, errors, a password reset elsewhere): keep it fresh while open,
  // closely while something is under way or wrong.
  const settled = accounts.every((a) => a.status === 'active');
  useInterval(() => void refresh(), settled ? 10_000 : 2_500);

  const broken = accounts.filter((a) => a.status === 'needs_reconnect');
  const plan = org?.plan ?? null;

  return (
    <section>
      <PageHeader
        title={t('emailSettings.title')}
        crumbs={[
          { label: t('settings.profile') },
          { label: t('settings.title'), to: '/settings' },
          { label: t('emailSettings.title') },
        ]}
        actions={
          <button
            type="button"
            className="button button-primary"
            onClick={() => {
              setConnecting(true);
              setEditing(null);
              setJustConnected(null);
              setLanding(null);
            }}
            aria-expanded={connecting}
          >
            {t('emailSettings.connect')}
          </button>
        }
      />

      {broken.map((a) => (
        <div key={a.id} className="banner banner-warning" role="alert" data-testid="reconnect-banner">
          <p>
            <strong>{t('reconnect.title', { email: a.email })}</strong> {t('reconnect.explain')}
            {a.statusDetail ? (
              <>
                {' '}
                <span className="muted" data-testid="reconnect-detail">
                  ({serverText(a.statusDetailCode, a.statusDetailParams, a.statusDetail)})
                </span>
              </>
            ) : null}
          </p>
          <button
            type="button"
            className="button button-small button-primary"
            onClick={() => {
              setEditing(a.id);
              setConnecting(false);
              window.setTimeout(
                () => document.getElementById(`account-${a.id}`)?.scrollIntoView({ block: 'start' }),
                0,
              );
            }}
          >
            {t('reconnect.action')}
          </button>
        </div>
      ))}

      {landing?.kind === 'connected' ? (
        <Notice kind="success">
          <p>{t('emailSettings.connectedNotice', { email: accounts.find((a) => a.id === landing.id)?.email ?? '' })}</p>
        </Notice>
      ) : null}
      {landing?.kind === 'error' ? (
        <div className="notice notice-error" role="alert" data-error-code={landing.code}>
          <p className="notice-title">{t('emailSettings.oauthFailed')}</p>
          {/* Only our own text for a known code: anyone can craft this address and send it to a user. */}
          <p>{t(landing.code === 'CSRF_REFUSED' ? 'emailSettings.oauthOtherBrowser' : errorTitleKey(landing.code))}</p>
        </div>
      ) : null}
      {justConnected ? (
        <Notice kind="success">
          <p>{t('emailSettings.connectedNotice', { email: justConnected })}</p>
        </Notice>
      ) : null}

      <ErrorNotice error={providers.error} />
      {connecting ? (
        providers.data ? (
          <AccountForm
            providers={providers.data}
            plan={plan}
            onCancel={() => setConnecting(false)}
            onDone={(account) => {
              put(account);
              setConnecting(false);
              setJustConnected(account.email);
              void refresh();
            }}
          />
        ) : (
          <Loading />
        )
      ) : null}

      <section aria-labelledby="accounts-title">
        <h2 id="accounts-title">{t('emailSettings.accounts')}</h2>
        <ErrorNotice error={error} />
        {!loaded ? <Loading /> : null}
        {loaded && accounts.length === 0 && !connecting ? (
          <div className="empty card">
            <p>{t('emailSettings.none')}</p>
            <button type="button" className="button button-primary" onClick={() => setConnecting(true)}>
              {t('emailSettings.connect')}
            </button>
          </div>
        ) : null}
        <ul className="account-list">
          {accounts.map((a) => (
            <li key={a.id} id={`account-${a.id}`}>
              <AccountCard
                account={a}
                providers={providers.data ?? []}
                plan={plan}
                editing={editing === a.id}
                onEdit={(on) => setEditing(on ? a.id : null)}
                onSaved={(saved) => {
                  put(saved);
                  setEditing(null);
                  void refresh();
                }}
                onDeleted={() => remove(a.id)}
              />
            </li>
          ))}
        </ul>
      </section>

      <OtherEmailSettings />
    </section>
  );
}

const CALENDAR_STATUS = new Set(['syncing', 'active', 'needs_reconnect', 'error', 'none']);

const STATUS_BADGE: Record<EmailAccount['status'], string> = {
  connecting: 'badge-info',
  syncing: 'badge-info',
  active: 'badge-success',
  needs_reconnect: 'badge-error',
  error: 'badge-warning',
};

function AccountCard({
  account,
  providers,
  plan,
  editing,
  onEdit,
  onSaved,
  onDeleted,
}: {
  account: EmailAccount;
  providers: ProviderPreset[];
  plan: Plan | null;
  editing: boolean;
  onEdit(on: boolean): void;
  onSaved(account: EmailAccount): void;
  onDeleted(): void;
}) {
  const { t, dateTime, number, serverText } = useI18n();
  const { user } = useSession();
  const [panel, setPanel] = useState<'none' | 'smtp' | 'delete' | 'bcc' | 'signature'>('none');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [syncRequested, setSyncRequested] = useState(false);
  const providerName =
    account.provider === 'other'
      ? t('connect.otherProvider')
      : (providers.find((p) => p.id === account.provider)?.name ?? account.provider);
  const titleId = `account-${account.id}-title`;

  const syncNow = async () => {
    setError(null);
    try {
      await api('POST', `/api/email-accounts/${account.id}/sync`);
      setSyncRequested(true);
      window.setTimeout(() => setSyncRequested(false), 4000);
    } catch (err) {
      setError(err);
    }
  };

  // A new BCC address: the old one is refused from then on (a leaked address stops filing at once).
  const regenerateBcc = async () => {
    setBusy(true);
    setError(null);
    try {
      onSaved(await api<EmailAccount>('POST', `/api/email-accounts/${account.id}/bcc-address`, {}));
      setPanel('none');
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const remove = async () => {
    setBusy(true);
    setError(null);
    try {
      await api('DELETE', `/api/email-accounts/${account.id}`);
      onDeleted();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <article
      className="card account-card"
      aria-labelledby={titleId}
      data-account-email={account.email}
      data-status={account.status}
    >
      <header className="account-header">
        <div>
          <h3 id={titleId}>{account.email}</h3>
          <p className="muted small">
            {providerName} · {account.syncMode === 'two-way' ? t('connect.twoWay') : t('connect.oneWay')}
          </p>
        </div>
        <span className={`badge ${STATUS_BADGE[account.status]}`} data-testid="account-status">
          {t(`status.${account.status}` as MessageKey)}
        </span>
      </header>

      <dl className="details health">
        {account.statusDetail ? (
          <div>
            <dt>{t('health.detail')}</dt>
            <dd data-testid="status-detail">
              {serverText(account.statusDetailCode, account.statusDetailParams, account.statusDetail)}
            </dd>
          </div>
        ) : null}
        <div>
          <dt>{t('health.lastSynced')}</dt>
          <dd>
            {account.lastSyncedAt ? (
              <time dateTime={account.lastSyncedAt}>{dateTime(account.lastSyncedAt)}</time>
            ) : (
              t('health.never')
            )}
          </dd>
        </div>
        {account.progress ? (
          <div>
            <dt>{t('health.progress')}</dt>
            <dd>
              <progress
                max={Math.max(account.progress.total, 1)}
                value={account.progress.scanned}
                aria-label={t('health.progress')}
              />{' '}
              {t('health.progressText', {
                folder: account.progress.folder,
                scanned: number(account.progress.scanned),
                total: number(account.progress.total),
              })}
            </dd>
          </div>
        ) : null}
        {account.nextRetryAt ? (
          <div>
            <dt>{t('health.nextRetry')}</dt>
            <dd>
              <time dateTime={account.nextRetryAt}>{dateTime(account.nextRetryAt)}</time>
            </dd>
          </div>
        ) : null}
        {account.lastError ? (
          <div>
            <dt>{t('health.lastError')}</dt>
            <dd>
              <span data-testid="last-error">
                {serverText(account.lastError.code, account.lastError.params, account.lastError.message)}
              </span>{' '}
              <span className="muted small">({dateTime(account.lastError.at)})</span>
            </dd>
          </div>
        ) : null}
        {account.setAside && account.setAside.count > 0 ? (
          <div>
            <dt>{t('health.setAside')}</dt>
            <dd data-testid="set-aside">
              {t('health.setAsideText', { count: String(account.setAside.count) })}
              {account.setAside.latest[0] ? (
                <span className="muted small"> ({dateTime(account.setAside.latest[0].at)})</span>
              ) : null}
            </dd>
          </div>
        ) : null}
        {account.calendar?.status ? (
          <div>
            <dt>{t('health.calendar')}</dt>
            <dd data-testid="calendar-status">
              {CALENDAR_STATUS.has(account.calendar.status)
                ? t(`health.calendar.${account.calendar.status}` as MessageKey)
                : account.calendar.status}
              {account.calendar.syncedAt ? (
                <span className="muted small">
                  {' '}
                  ({t('health.calendarSynced', { when: dateTime(account.calendar.syncedAt) })})
                </span>
              ) : null}
              {account.calendar.detail ? (
                <p className="muted small" data-testid="calendar-detail">
                  {serverText(account.calendar.detailCode, account.calendar.detailParams, account.calendar.detail)}
                </p>
              ) : null}
            </dd>
          </div>
        ) : null}
        <div>
          <dt>{t('verify.title')}</dt>
          <dd>
            <AddressVerification account={account} onVerified={onSaved} />
          </dd>
        </div>
        <div>
          <dt>{t('bcc.title')}</dt>
          <dd className="bcc">
            <code>{account.bccAddress}</code> <CopyButton text={account.bccAddress} label={t('bcc.copy')} />
            <p className="muted small">{account.syncMode === 'one-way' ? t('bcc.helpOneWay') : t('bcc.help')}</p>
            {account.userId === user.id ? (
              <button
                type="button"
                className="button button-small"
                onClick={() => {
                  setPanel('bcc');
                  onEdit(false);
                }}
                aria-expanded={panel === 'bcc'}
              >
                {t('bcc.regenerate')}
              </button>
            ) : null}
          </dd>
        </div>
      </dl>

      <ErrorNotice error={error} />
      {syncRequested ? <Notice kind="info">{t('account.syncStarted')}</Notice> : null}

      <div className="account-actions">
        <button
          type="button"
          className="button button-small"
          onClick={() => void syncNow()}
          disabled={account.status === 'needs_reconnect'}
        >
          {t('account.syncNow')}
        </button>
        <button
          type="button"
          className="button button-small"
          onClick={() => {
            onEdit(!editing);
            setPanel('none');
          }}
          aria-expanded={editing}
        >
          {t('account.edit')}
        </button>
        <button
          type="button"
          className="button button-small"
          onClick={() => {
            setPanel(panel === 'smtp' ? 'none' : 'smtp');
            onEdit(false);
          }}
          aria-expanded={panel === 'smtp'}
        >
          {t('account.editSmtp')}
        </button>
        {account.userId === user.id ? (
          <button
            type="button"
            className="button button-small"
            onClick={() => {
              setPanel(panel === 'signature' ? 'none' : 'signature');
              onEdit(false);
            }}
            aria-expanded={panel === 'signature'}
          >
            {t('signature.button')}
          </button>
        ) : null}
        <button
          type="button"
          className="button button-small button-danger"
          onClick={() => {
            setPanel('delete');
            onEdit(false);
          }}
          aria-expanded={panel === 'delete'}
        >
          {t('account.delete')}
        </button>
      </div>

      {editing ? (
        <AccountForm
          providers={providers}
          plan={plan}
          account={account}
          onCancel={() => onEdit(false)}
          onDone={onSaved}
        />
      ) : null}
      {panel === 'smtp' ? <SmtpEditor account={account} onClose={() => setPanel('none')} /> : null}
      {panel === 'signature' ? (
        <SignatureEditor account={account} onSaved={onSaved} onClose={() => setPanel('none')} />
      ) : null}
      {panel === 'bcc' ? (
        <ConfirmPanel
          id={`${titleId}-bcc`}
          title={t('bcc.regenerateConfirmTitle')}
          text={t('bcc.regenerateConfirmText', { address: account.bccAddress })}
          confirmLabel={t('bcc.regenerateConfirm')}
          busy={busy}
          onConfirm={() => void regenerateBcc()}
          onCancel={() => setPanel('none')}
        />
      ) : null}
      {panel === 'delete' ? (
        <ConfirmPanel
          id={`${titleId}-confirm`}
          title={t('account.deleteConfirmTitle', { email: account.email })}
          text={t('account.deleteConfirmText')}
          confirmLabel={t('account.deleteConfirm')}
          confirmClass="button-danger"
          busy={busy}
          onConfirm={() => void remove()}
          onCancel={() => setPanel('none')}
        />
      ) : null}
    </article>
  );
}

function OtherEmailSettings() {
  const { t } = useI18n();
  const { settings, updateSettings } = useSession();
  // Shown at once while it is saved; back to the saved value if saving fails.
  const [pending, setPending] = useState<boolean | null>(null);
  const [error, setError] = useState<unknown>(null);
  const toggle = async (on: boolean) => {
    setPending(on);
    setError(null);
    try {
      await updateSettings({ autoCreateContacts: on });
    } catch (err) {
      setError(err);
    } finally {
      setPending(null);
    }
  };
  return (
    <section className="card" aria-labelledby="other-email-settings">
      <h2 id="other-email-settings">{t('emailSettings.other')}</h2>
      <div className="switch-row">
        <input
          id="auto-create-contacts"
          type="checkbox"
          role="switch"
          className="switch"
          checked={pending ?? settings.autoCreateContacts}
          disabled={pending !== null}
          onChange={(e) => void toggle(e.target.checked)}
          aria-describedby="auto-create-contacts-help"
        />
        <label htmlFor="auto-create-contacts">{t('emailSettings.autoCreate')}</label>
      </div>
      <p id="auto-create-contacts-help" className="muted small">
        {t('emailSettings.autoCreateHelp')}
      </p>
      <ErrorNotice error={error} />
    </section>
  );
}
