// First run (no user yet, GET /api/setup → needsSetup): the organisation and its first administrator →
// POST /api/setup, which answers with a session cookie. Shown on every path until that is done.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { api, ApiError } from '../api/client';
import { ErrorNotice } from '../components/common';
import { PasswordField } from '../components/password-field';
import { useI18n } from '../i18n/i18n';
import { navigate } from '../router';

export function SetupPage({ onDone, onAlreadySetUp }: { onDone(): void; onAlreadySetUp(): void }) {
  const { t } = useI18n();
  const [orgName, setOrgName] = useState('');
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [already, setAlready] = useState(false);
  const first = useRef<HTMLInputElement>(null);

  useEffect(() => {
    document.title = `${t('setup.title')} · Conversa`;
    first.current?.focus();
  }, [t]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api(
        'POST',
        '/api/setup',
        { orgName: orgName.trim(), email: email.trim(), password, ...(name.trim() ? { name: name.trim() } : {}) },
        { quiet401: true },
      );
      // Next step for a new team: a mailbox to connect.
      navigate('/settings/email', { replace: true });
      onDone();
    } catch (err) {
      if (err instanceof ApiError && err.code === 'ALREADY_SET_UP') setAlready(true);
      else setError(err);
      setBusy(false);
    }
  };

  if (already) {
    return (
      <main className="login" id="main">
        <div className="card login-card" role="alert">
          <p className="brand brand-large">Conversa</p>
          <h1>{t('error.ALREADY_SET_UP')}</h1>
          <p>{t('setup.already')}</p>
          <button type="button" className="button button-primary" onClick={onAlreadySetUp} autoFocus>
            {t('setup.toSignIn')}
          </button>
        </div>
      </main>
    );
  }

  return (
    <main className="login" id="main">
      <form className="card login-card" onSubmit={submit} noValidate aria-labelledby="setup-title">
        <p className="brand brand-large">Conversa</p>
        <h1 id="setup-title">{t('setup.title')}</h1>
        <p className="muted">{t('setup.intro')}</p>
        <div className="field">
          <label htmlFor="setup-org">{t('setup.orgName')}</label>
          <input
            ref={first}
            id="setup-org"
            name="organization"
            autoComplete="organization"
            required
            value={orgName}
            onChange={(e) => setOrgName(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="setup-name">{t('setup.name')}</label>
          <input
            id="setup-name"
            name="name"
            autoComplete="name"
            value={name}
            onChange={(e) => setName(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="setup-email">{t('setup.email')}</label>
          <input
            id="setup-email"
            name="email"
            type="email"
            autoComplete="username"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
        </div>
        <PasswordField
          id="setup-password"
          label={t('setup.password')}
          value={password}
          onChange={setPassword}
          error={error}
          fieldPath="body.password"
        />
        <ErrorNotice error={error} />
        <button
          type="submit"
          className="button button-primary"
          disabled={busy || !orgName.trim() || !email.trim() || !password}
        >
          {busy ? t('setup.submitting') : t('setup.submit')}
        </button>
      </form>
    </main>
  );
}
