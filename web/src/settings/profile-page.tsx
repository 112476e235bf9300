// Settings › Profile / Security: the user's name (PATCH /api/me) and interface language, changing the password
// (POST /api/me/password: the current one required; the server ends every other session) and the API tokens.
import { useRef, useState, type FormEvent } from 'react';
import { api, ApiError } from '../api/client';
import type { Locale } from '../api/types';
import { ErrorNotice, Notice, PageHeader } from '../components/common';
import { PasswordField } from '../components/password-field';
import { useI18n } from '../i18n/i18n';
import { useSession } from '../session';
import { ApiTokens } from './api-tokens';

export function ProfilePage() {
  const { t } = useI18n();
  return (
    <section>
      <PageHeader
        title={t('profile.title')}
        crumbs={[{ label: t('settings.title'), to: '/settings' }, { label: t('profile.title') }]}
      />
      <div className="settings-grid">
        <NameAndLanguage />
        <TrackingOptIn />
        <ChangePassword />
        <ApiTokens />
      </div>
    </section>
  );
}

function NameAndLanguage() {
  const { t, locale } = useI18n();
  const { user, updateProfile, updateSettings } = useSession();
  const [name, setName] = useState(user.displayName ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);

  const saveName = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setSaved(false);
    try {
      await updateProfile({ name: name.trim() });
      setSaved(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const changeLocale = async (next: Locale) => {
    setBusy(true);
    setError(null);
    try {
      await updateSettings({ locale: next });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card" aria-labelledby="profile-name-title">
      <h2 id="profile-name-title">{t('profile.nameTitle')}</h2>
      <form onSubmit={saveName} noValidate>
        <div className="field">
          <label htmlFor="profile-name">{t('profile.name')}</label>
          <input
            id="profile-name"
            autoComplete="name"
            value={name}
            onChange={(e) => {
              setName(e.target.value);
              setSaved(false);
            }}
          />
        </div>
        <div className="form-actions">
          <button type="submit" className="button button-primary" disabled={busy || !name.trim()}>
            {t('profile.saveName')}
          </button>
        </div>
      </form>
      {saved ? <Notice kind="success">{t('profile.nameSaved')}</Notice> : null}
      <div className="field">
        <label htmlFor="profile-language">{t('settings.languageLabel')}</label>
        <select
          id="profile-language"
          value={locale}
          disabled={busy}
          onChange={(e) => void changeLocale(e.target.value as Locale)}
        >
          <option value="en" lang="en">
            English
          </option>
          <option value="pt-BR" lang="pt-BR">
            Português (Brasil)
          </option>
        </select>
      </div>
      <ErrorNotice error={error} />
    </section>
  );
}

/** Issue 15 (H3): the user's opt-in to open and click tracking; each message still asks for it itself. */
function TrackingOptIn() {
  const { t } = useI18n();
  const { settings, updateSettings } = useSession();
  // Shown at once while it is saved; back to the saved value if saving fails.
  const [pending, setPending] = useState<boolean | null>(null);
  const [error, setError] = useState<unknown>(null);
  const toggle = async (on: boolean) => {
    setPending(on);
    setError(null);
    try {
      await updateSettings({ trackingEnabled: on });
    } catch (err) {
      setError(err);
    } finally {
      setPending(null);
    }
  };
  return (
    <section className="card" aria-labelledby="profile-tracking-title">
      <h2 id="profile-tracking-title">{t('profile.trackingTitle')}</h2>
      <div className="switch-row">
        <input
          id="profile-tracking"
          type="checkbox"
          role="switch"
          className="switch"
          checked={pending ?? settings.trackingEnabled}
          disabled={pending !== null}
          onChange={(e) => void toggle(e.target.checked)}
          aria-describedby="profile-tracking-help"
        />
        <label htmlFor="profile-tracking">{t('profile.tracking')}</label>
      </div>
      <p id="profile-tracking-help" className="muted small">
        {t('profile.trackingHelp')}
      </p>
      <ErrorNotice error={error} />
    </section>
  );
}

function ChangePassword() {
  const { t } = useI18n();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [changed, setChanged] = useState(false);
  const currentInput = useRef<HTMLInputElement>(null);
  const wrongCurrent =
    error instanceof ApiError && !!error.fields?.some((f) => f.path.replace(/^body\./, '') === 'currentPassword');

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setChanged(false);
    try {
      await api('POST', '/api/me/password', { currentPassword: current, newPassword: next });
      setChanged(true);
      setCurrent('');
      setNext('');
      currentInput.current?.focus();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card" aria-labelledby="password-title">
      <h2 id="password-title">{t('profile.passwordTitle')}</h2>
      <form onSubmit={submit} noValidate data-testid="password-form">
        <div className="field">
          <label htmlFor="password-current">{t('profile.currentPassword')}</label>
          <input
            ref={currentInput}
            id="password-current"
            type="password"
            autoComplete="current-password"
            required
            value={current}
            aria-invalid={wrongCurrent || undefined}
            aria-describedby={wrongCurrent ? 'password-current-issue' : undefined}
            onChange={(e) => setCurrent(e.target.value)}
          />
          {wrongCurrent ? (
            <p id="password-current-issue" className="field-error" role="alert">
              {t('profile.wrongCurrent')}
            </p>
          ) : null}
        </div>
        <PasswordField
          id="password-new"
          label={t('profile.newPassword')}
          value={next}
          onChange={setNext}
          error={error}
          fieldPath="body.newPassword"
        />
        <ErrorNotice error={error} />
        {changed ? <Notice kind="success">{t('profile.passwordChanged')}</Notice> : null}
        <div className="form-actions">
          <button type="submit" className="button button-primary" disabled={busy || !current || !next}>
            {t('profile.changePassword')}
          </button>
        </div>
      </form>
    </section>
  );
}
