// Sign-in: e-mail and password → POST /api/auth/login, which sets the session cookie.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { api, ApiError } from '../api/client';
import { isKnownErrorCode } from '../components/common';
import { useI18n, type MessageKey } from '../i18n/i18n';
import { navigate } from '../router';

export function LoginPage({ next, onSignedIn }: { next: string; onSignedIn(): void }) {
  const { t } = useI18n();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const emailRef = useRef<HTMLInputElement>(null);

  useEffect(() => {
    document.title = `${t('login.title')} · Conversa`;
    emailRef.current?.focus();
  }, [t]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api('POST', '/api/auth/login', { email: email.trim(), password }, { quiet401: true });
      if (window.location.pathname === '/login' || window.location.pathname === '/') navigate(next, { replace: true });
      onSignedIn();
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? t('login.wrong')
          : err instanceof ApiError && err.code === 'NETWORK'
            ? t('error.NETWORK')
            : // A deactivated user, too many attempts: the dictionary's words for the code.
              err instanceof ApiError && isKnownErrorCode(err.code) && err.code !== 'INTERNAL'
              ? t(`error.${err.code}` as MessageKey)
              : t('login.failed'),
      );
      setBusy(false);
    }
  };

  return (
    <main className="login" id="main">
      <form className="card login-card" onSubmit={submit} noValidate aria-labelledby="login-title">
        <p className="brand brand-large">Conversa</p>
        <h1 id="login-title">{t('login.title')}</h1>
        <p className="muted">{t('login.intro')}</p>
        <div className="field">
          <label htmlFor="login-email">{t('login.email')}</label>
          <input
            ref={emailRef}
            id="login-email"
            name="email"
            type="email"
            autoComplete="username"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="login-password">{t('login.password')}</label>
          <input
            id="login-password"
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </div>
        {error ? (
          <p className="notice notice-error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" className="button button-primary" disabled={busy || !email || !password}>
          {busy ? t('login.signingIn') : t('login.submit')}
        </button>
      </form>
    </main>
  );
}
