// Connecting a mailbox (Conectar e-mail) and editing one (Editar: reconnect with new credentials, or switch to
// another service): provider presets fill the servers, which stay editable; OAuth providers sign in on their
// own page; the sync mode is chosen here, with its plan rule. The API tests the connection before saving, and
// its refusals are shown with the provider's app-password advice where that is the likely cause.
import { useEffect, useId, useMemo, useState, type FormEvent } from 'react';
import { api, ApiError } from '../api/client';
import type { EmailAccount, Endpoint, OAuthStart, Plan, ProviderLookup, ProviderPreset, SyncMode } from '../api/types';
import { ErrorNotice, Linkified } from '../components/common';
import { useI18n, type MessageKey } from '../i18n/i18n';

const LOCALIZED_HELP = new Set(['gmail', 'microsoft365', 'outlook', 'other']);

export function providerHelpKey(id: string): MessageKey | null {
  return LOCALIZED_HELP.has(id) ? (`provider.help.${id}` as MessageKey) : null;
}

function oauthLabel(preset: ProviderPreset): MessageKey {
  return preset.oauth === 'google' ? 'connect.signInGoogle' : 'connect.signInMicrosoft';
}

const emptyEndpoint = (port: number, secure: boolean): Endpoint => ({ host: '', port, secure });

const cleanEndpoint = (e: Endpoint): Endpoint => ({ host: e.host.trim(), port: Number(e.port), secure: e.secure });

export function AccountForm({
  providers,
  plan,
  account,
  onDone,
  onCancel,
}: {
  providers: ProviderPreset[];
  plan: Plan | null;
  /** Present when editing: reconnect or switch. */
  account?: EmailAccount;
  onDone(account: EmailAccount): void;
  onCancel(): void;
}) {
  const { t, locale } = useI18n();
  const id = useId();
  const editing = account !== undefined;
  const [providerId, setProviderId] = useState(account?.provider ?? '');
  const [providerPicked, setProviderPicked] = useState(editing);
  const preset = useMemo(() => providers.find((p) => p.id === providerId), [providers, providerId]);
  const [email, setEmail] = useState(account?.email ?? '');
  const [username, setUsername] = useState(account && account.username !== account.email ? account.username : '');
  const [password, setPassword] = useState('');
  const [imap, setImap] = useState<Endpoint>(account?.imap ?? emptyEndpoint(993, true));
  const [smtp, setSmtp] = useState<Endpoint>(account?.smtp ?? emptyEndpoint(587, false));
  const [caldavUrl, setCaldavUrl] = useState(account?.caldavUrl ?? '');
  const [syncMode, setSyncMode] = useState<SyncMode>(account?.syncMode ?? 'two-way');
  const [historyDays, setHistoryDays] = useState(account?.historyDays ?? 90);
  const [usePassword, setUsePassword] = useState(account?.authKind === 'password');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  // A new provider brings its servers; on edit, the account's own servers stay until the provider changes.
  const choose = (next: string) => {
    setProviderId(next);
    setProviderPicked(true);
    const p = providers.find((x) => x.id === next);
    if (p) {
      setImap({ ...p.imap });
      setSmtp({ ...p.smtp });
      setUsePassword(p.auth === 'password');
    }
    setError(null);
  };

  // Typing an address of a known provider picks it, unless the user chose one.
  useEffect(() => {
    if (providerPicked || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email.trim())) return;
    const controller = new AbortController();
    const timer = window.setTimeout(() => {
      api<ProviderLookup>('GET', `/api/providers/lookup?email=${encodeURIComponent(email.trim())}`, undefined, {
        signal: controller.signal,
      })
        .then((found) => {
          if (!found.matched) return;
          setProviderId(found.id);
          setImap({ ...found.imap });
          setSmtp({ ...found.smtp });
          setUsePassword(found.auth === 'password');
        })
        .catch(() => undefined);
    }, 400);
    return () => {
      controller.abort();
      window.clearTimeout(timer);
    };
  }, [email, providerPicked]);

  const oauth = preset?.auth === 'oauth2' && !usePassword;
  const switching = editing && (providerId !== account.provider || email.trim().toLowerCase() !== account.email);

  const startOAuth = async () => {
    if (!preset) return;
    setBusy(true);
    setError(null);
    try {
      const { authorizeUrl } = await api<OAuthStart>('POST', '/api/email-accounts/oauth/start', {
        provider: preset.id,
        syncMode,
        historyDays,
        ...(editing ? { accountId: account.id } : {}),
        // No servers: a provider's token goes only to that provider's own (the server decides, not the browser).
      });
      window.location.assign(authorizeUrl);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (oauth) return void startOAuth();
    setBusy(true);
    setError(null);
    const body = {
      provider: providerId,
      email: email.trim(),
      password,
      ...(username.trim() ? { username: username.trim() } : {}),
      imap: cleanEndpoint(imap),
      smtp: cleanEndpoint(smtp),
      ...(caldavUrl.trim() ? { caldavUrl: caldavUrl.trim() } : {}),
      syncMode,
      historyDays,
    };
    try {
      const saved = editing
        ? await api<EmailAccount>('PATCH', `/api/email-accounts/${account.id}`, body)
        : await api<EmailAccount>('POST', '/api/email-accounts', body);
      onDone(saved);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  const code = error instanceof ApiError ? error.code : null;
  const helpKey = preset ? providerHelpKey(preset.id) : null;
  const help = helpKey && (locale !== 'en' || !preset?.help) ? t(helpKey) : preset?.help;
  const serversOpen = !preset || preset.id === 'other' || editing;

  const endpointFields = (which: 'imap' | 'smtp', value: Endpoint, set: (e: Endpoint) => void) => (
    <fieldset className="endpoint">
      <legend>{which === 'imap' ? t('connect.imapServer') : t('connect.smtpServer')}</legend>
      <div className="field">
        <label htmlFor={`${id}-${which}-host`}>
          {which === 'imap' ? t('connect.imapHost') : t('connect.smtpHost')}
        </label>
        <input
          id={`${id}-${which}-host`}
          value={value.host}
          onChange={(e) => set({ ...value, host: e.target.value })}
          autoComplete="off"
          spellCheck={false}
          required
        />
      </div>
      <div className="field field-port">
        <label htmlFor={`${id}-${which}-port`}>
          {which === 'imap' ? t('connect.imapPort') : t('connect.smtpPort')}
        </label>
        <input
          id={`${id}-${which}-port`}
          type="number"
          min={1}
          max={65535}
          inputMode="numeric"
          value={value.port}
          onChange={(e) => set({ ...value, port: Number(e.target.value) })}
          required
        />
      </div>
      <div className="field field-check">
        <input
          id={`${id}-${which}-secure`}
          type="checkbox"
          checked={value.secure}
          onChange={(e) => set({ ...value, secure: e.target.checked })}
        />
        <label htmlFor={`${id}-${which}-secure`}>
          {which === 'imap' ? t('connect.imapSecure') : t('connect.smtpSecure')}
        </label>
      </div>
    </fieldset>
  );

  const serverSettings = preset ? (
    <details className="servers" open={serversOpen}>
      <summary>{t('connect.servers')}</summary>
      <p className="muted small">{t('connect.serversHelp')}</p>
      <div className="endpoints">
        {endpointFields('imap', imap, setImap)}
        {endpointFields('smtp', smtp, setSmtp)}
      </div>
      {!oauth ? (
        <>
          <div className="field">
            <label htmlFor={`${id}-username`}>{t('connect.username')}</label>
            <input
              id={`${id}-username`}
              value={username}
              onChange={(e) => setUsername(e.target.value)}
              autoComplete="off"
              spellCheck={false}
              placeholder={email}
            />
          </div>
          <div className="field">
            <label htmlFor={`${id}-caldav`}>{t('connect.caldav')}</label>
            <input
              id={`${id}-caldav`}
              type="url"
              value={caldavUrl}
              onChange={(e) => setCaldavUrl(e.target.value)}
              autoComplete="off"
              spellCheck={false}
              placeholder={preset.caldavUrl ?? 'https://'}
            />
          </div>
        </>
      ) : null}
    </details>
  ) : null;

  return (
    <form
      className="card account-form"
      onSubmit={submit}
      aria-labelledby={`${id}-title`}
      noValidate
      data-testid={editing ? 'edit-account-form' : 'connect-form'}
    >
      <h2 id={`${id}-title`}>
        {editing ? t('connect.editTitle', { email: account.email }) : t('emailSettings.connect')}
      </h2>
      {editing ? <p className="muted">{t('connect.editIntro')}</p> : <p className="muted">{t('connect.intro')}</p>}

      <div className="field">
        <label htmlFor={`${id}-provider`}>{t('connect.provider')}</label>
        <select
          id={`${id}-provider`}
          value={providerId}
          onChange={(e) => choose(e.target.value)}
          required
          aria-describedby={`${id}-provider-help`}
        >
          <option value="" disabled>
            {t('connect.chooseProvider')}
          </option>
          {providers.map((p) => (
            <option key={p.id} value={p.id}>
              {p.id === 'other' ? t('connect.otherProvider') : p.name}
            </option>
          ))}
        </select>
        <div id={`${id}-provider-help`} className="help">
          {help ? (
            <p>
              <Linkified text={help} />
            </p>
          ) : null}
          {/* The Microsoft presets' own help already answers it (in English). */}
          {help?.includes('Microsoft 365 or Outlook?') ? null : (
            <details className="help-details">
              <summary>{t('connect.msOrOutlook')}</summary>
              <p>{t('connect.msOrOutlookAnswer')}</p>
            </details>
          )}
        </div>
      </div>

      <div className="field">
        <label htmlFor={`${id}-email`}>{t('connect.email')}</label>
        <input
          id={`${id}-email`}
          type="email"
          autoComplete="email"
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          required
          spellCheck={false}
        />
      </div>

      {preset && oauth ? (
        <div className="oauth-box">
          <button
            type="button"
            className="button button-primary button-oauth"
            onClick={() => void startOAuth()}
            disabled={busy}
          >
            {t(oauthLabel(preset))}
          </button>
          <p className="muted small">{t('connect.oauthExplain', { provider: preset.name })}</p>
          {preset.appPassword ? (
            <button type="button" className="button button-small button-quiet" onClick={() => setUsePassword(true)}>
              {t('connect.useAppPassword')}
            </button>
          ) : null}
        </div>
      ) : null}
      {preset && oauth ? serverSettings : null}

      {preset && !oauth ? (
        <>
          <div className="field">
            <label htmlFor={`${id}-password`}>
              {preset.appPassword ? t('connect.appPassword') : t('connect.password')}
            </label>
            <input
              id={`${id}-password`}
              type="password"
              autoComplete="new-password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              required
              aria-describedby={`${id}-password-help`}
            />
            <small id={`${id}-password-help`} className="muted">
              {preset.appPassword ? (
                <>
                  {t(preset.appPassword.requiredWith2fa ? 'connect.appPasswordWith2fa' : 'connect.appPasswordAlways')}{' '}
                  <a href={preset.appPassword.instructionsUrl} target="_blank" rel="noopener noreferrer">
                    {t('connect.appPasswordHow')}
                  </a>
                </>
              ) : (
                t('connect.passwordHelp')
              )}
            </small>
          </div>
          {serverSettings}
        </>
      ) : null}

      {preset ? (
        <fieldset className="sync-mode">
          <legend>{t('connect.syncMode')}</legend>
          <div className="radio-card">
            <input
              id={`${id}-two-way`}
              type="radio"
              name={`${id}-sync`}
              value="two-way"
              checked={syncMode === 'two-way'}
              onChange={() => setSyncMode('two-way')}
              aria-describedby={`${id}-two-way-help`}
            />
            <label htmlFor={`${id}-two-way`}>
              {t('connect.twoWay')} <span className="badge badge-info">{t('connect.recommended')}</span>
            </label>
            <p id={`${id}-two-way-help`} className="muted small">
              {t('connect.twoWayHelp')}
            </p>
          </div>
          <div className="radio-card">
            <input
              id={`${id}-one-way`}
              type="radio"
              name={`${id}-sync`}
              value="one-way"
              checked={syncMode === 'one-way'}
              onChange={() => setSyncMode('one-way')}
              aria-describedby={`${id}-one-way-help`}
            />
            <label htmlFor={`${id}-one-way`}>{t('connect.oneWay')}</label>
            <p id={`${id}-one-way-help`} className="muted small">
              {t('connect.oneWayHelp')} <strong>{t('connect.oneWayPlan')}</strong>
              {plan === 'growth' ? <> {t('connect.oneWayYourPlan', { plan: t('plan.growth') })}</> : null}
            </p>
          </div>
          {!editing ? (
            <div className="field field-history">
              <label htmlFor={`${id}-history`}>{t('connect.history')}</label>
              <select id={`${id}-history`} value={historyDays} onChange={(e) => setHistoryDays(Number(e.target.value))}>
                {[30, 90, 180, 365].map((d) => (
                  <option key={d} value={d}>
                    {t('connect.historyDays', { days: d })}
                  </option>
                ))}
              </select>
            </div>
          ) : null}
        </fieldset>
      ) : null}

      {code === 'PLAN_REQUIRED' ? (
        <div className="notice notice-warning" role="alert" data-error-code="PLAN_REQUIRED">
          <p className="notice-title">{t('connect.planRequiredTitle')}</p>
          <p>{t('connect.planRequired', { plan: plan ? t(`plan.${plan}`) : '—' })}</p>
          <button
            type="button"
            className="button button-small"
            onClick={() => {
              setSyncMode('two-way');
              setError(null);
            }}
          >
            {t('connect.useTwoWay')}
          </button>
        </div>
      ) : (
        <ErrorNotice error={error}>
          {code === 'AUTH_FAILED' && preset?.appPassword ? (
            <div className="app-password-help">
              <p>{t('connect.appPasswordAdvice')}</p>
              <ol>
                <li>{t('connect.appPasswordStep1')}</li>
                <li>{t('connect.appPasswordStep2')}</li>
                <li>{t('connect.appPasswordStep3')}</li>
              </ol>
              <p>
                <a href={preset.appPassword.instructionsUrl} target="_blank" rel="noopener noreferrer">
                  {t('connect.appPasswordInstructions', { provider: preset.name })}
                </a>
              </p>
            </div>
          ) : code === 'AUTH_FAILED' && !(error instanceof ApiError && error.hint) ? (
            <p>{t('connect.authFailedAdvice')}</p>
          ) : null}
        </ErrorNotice>
      )}

      <div className="form-actions">
        {!oauth ? (
          <button
            type="submit"
            className="button button-primary"
            disabled={busy || !preset || !email.trim() || !password}
          >
            {busy ? t('connect.testing') : t('connect.submit')}
          </button>
        ) : null}
        <button type="button" className="button" onClick={onCancel} disabled={busy}>
          {t('common.cancel')}
        </button>
      </div>
      {busy && !oauth ? (
        <p className="muted small" role="status">
          {t('connect.testingExplain')}
        </p>
      ) : null}
      {switching ? <p className="muted small">{t('connect.switchNote')}</p> : null}
    </form>
  );
}
