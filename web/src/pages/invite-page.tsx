// /invite/<token>: the invitation's organisation and e-mail (GET /api/invites/:token; 404 when unknown, used or
// expired), then the newcomer's name and password → POST /api/invites/:token, which signs them in.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { api, isNotFound } from '../api/client';
import type { InvitationInfo } from '../api/types';
import { ErrorNotice, Loading, useAsync } from '../components/common';
import { PasswordField } from '../components/password-field';
import { useI18n } from '../i18n/i18n';
import { navigate } from '../router';

export function InvitePage({ token, onAccepted }: { token: string; onAccepted(): void }) {
  const { t, dateTime } = useI18n();
  const info = useAsync(
    (signal) =>
      api<InvitationInfo>('GET', `/api/invites/${encodeURIComponent(token)}`, undefined, { signal, quiet401: true }),
    [token],
  );
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    document.title = `${info.data ? t('invite.title', { org: info.data.orgName }) : t('invite.invalidTitle')} · Conversa`;
    if (info.data || info.error) heading.current?.focus();
  }, [info.data, info.error, t]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api(
        'POST',
        `/api/invites/${encodeURIComponent(token)}`,
        { password, ...(name.trim() ? { name: name.trim() } : {}) },
        { quiet401: true },
      );
      navigate('/inbox', { replace: true });
      onAccepted();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  let body;
  if (info.loading && !info.data && !info.error) body = <Loading />;
  else if (info.error || !info.data) {
    body = (
      <div role={isNotFound(info.error) ? 'alert' : undefined}>
        <h1 ref={heading} tabIndex={-1}>
          {t('invite.invalidTitle')}
        </h1>
        {isNotFound(info.error) ? <p>{t('invite.invalidText')}</p> : <ErrorNotice error={info.error} />}
        <p>
          <a className="button" href="/login">
            {t('invite.toSignIn')}
          </a>
        </p>
      </div>
    );
  } else {
    const invite = info.data;
    body = (
      <form onSubmit={submit} noValidate aria-labelledby="invite-title" data-testid="invite-form">
        <h1 id="invite-title" ref={heading} tabIndex={-1}>
          {t('invite.title', { org: invite.orgName })}
        </h1>
        <p className="muted">{t('invite.intro', { email: invite.email })}</p>
        <p className="help">{t('invite.expires', { date: dateTime(invite.expiresAt) })}</p>
        <div className="field">
          <label htmlFor="invite-email">{t('invite.email')}</label>
          <input id="invite-email" name="email" type="email" autoComplete="username" readOnly value={invite.email} />
        </div>
        <div className="field">
          <label htmlFor="invite-name">{t('invite.name')}</label>
          <input
            id="invite-name"
            name="name"
            autoComplete="name"
            value={name}
            onChange={(e) => setName(e.target.value)}
          />
        </div>
        <PasswordField
          id="invite-password"
          label={t('invite.password')}
          value={password}
          onChange={setPassword}
          error={error}
          fieldPath="body.password"
        />
        <ErrorNotice error={error} />
        <button type="submit" className="button button-primary" disabled={busy || !password}>
          {busy ? t('invite.submitting') : t('invite.submit')}
        </button>
      </form>
    );
  }

  return (
    <main className="login" id="main">
      <div className="card login-card">
        <p className="brand brand-large">Conversa</p>
        {body}
      </div>
    </main>
  );
}
