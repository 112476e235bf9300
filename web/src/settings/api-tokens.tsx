// The user's API tokens (GET, POST /api/me/tokens, DELETE /api/me/tokens/:id): create one with a name and an
// optional lifetime in days (shown once, with a copy button), the list with created / last used / expires, and
// revoking after a confirmation.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { api } from '../api/client';
import type { NewToken, TokenInfo, TokenList } from '../api/types';
import { ConfirmPanel, CopyButton, ErrorNotice, Loading, Notice, useAsync } from '../components/common';
import { useI18n } from '../i18n/i18n';

export function ApiTokens() {
  const { t } = useI18n();
  const list = useAsync((signal) => api<TokenList>('GET', '/api/me/tokens', undefined, { signal }), []);
  const [name, setName] = useState('');
  const [days, setDays] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [made, setMade] = useState<{ name: string; token: NewToken } | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const shown = useRef<HTMLDivElement>(null);
  const nameInput = useRef<HTMLInputElement>(null);

  useEffect(() => {
    if (made) shown.current?.focus();
  }, [made]);

  const create = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const expiresInDays = days.trim() ? Number(days) : undefined;
      const token = await api<NewToken>('POST', '/api/me/tokens', {
        name: name.trim(),
        ...(expiresInDays !== undefined ? { expiresInDays } : {}),
      });
      setMade({ name: name.trim(), token });
      setName('');
      setDays('');
      await list.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const revoked = async (token: TokenInfo) => {
    setDone(t('tokens.revoked', { name: token.name ?? t('tokens.unnamed') }));
    if (made?.token.id === token.id) setMade(null);
    list.setData((previous) => ({ items: (previous?.items ?? []).filter((x) => x.id !== token.id) }));
    nameInput.current?.focus();
  };

  return (
    <section className="card" aria-labelledby="tokens-title">
      <h2 id="tokens-title">{t('tokens.title')}</h2>
      <p className="muted">{t('tokens.intro')}</p>
      <form onSubmit={create} noValidate data-testid="token-form">
        <div className="form-grid">
          <div className="field">
            <label htmlFor="token-name">{t('tokens.name')}</label>
            <input
              ref={nameInput}
              id="token-name"
              autoComplete="off"
              required
              value={name}
              onChange={(e) => setName(e.target.value)}
            />
          </div>
          <div className="field">
            <label htmlFor="token-days">{t('tokens.expiresInDays')}</label>
            <input
              id="token-days"
              type="number"
              inputMode="numeric"
              min={1}
              step={1}
              value={days}
              onChange={(e) => setDays(e.target.value)}
            />
          </div>
        </div>
        <ErrorNotice error={error} />
        <div className="form-actions">
          <button type="submit" className="button button-primary" disabled={busy || !name.trim()}>
            {busy ? t('tokens.creating') : t('tokens.create')}
          </button>
        </div>
      </form>
      {made ? (
        <div className="notice notice-success" ref={shown} tabIndex={-1} data-testid="new-token">
          <p className="notice-title">{t('tokens.created', { name: made.name })}</p>
          <p>
            <code className="code-sample" data-testid="new-token-value">
              {made.token.token}
            </code>
          </p>
          <p>
            <CopyButton text={made.token.token} label={t('tokens.copy')} />
          </p>
        </div>
      ) : null}
      {done ? <Notice kind="success">{done}</Notice> : null}
      {list.error ? <ErrorNotice error={list.error} /> : null}
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && list.data.items.length === 0 ? <p className="muted">{t('tokens.none')}</p> : null}
      {list.data && list.data.items.length > 0 ? (
        <ul className="plain-list token-list" data-testid="token-list">
          {list.data.items.map((token) => (
            <TokenRow key={token.id} token={token} onRevoked={() => void revoked(token)} />
          ))}
        </ul>
      ) : null}
    </section>
  );
}

function TokenRow({ token, onRevoked }: { token: TokenInfo; onRevoked(): void }) {
  const { t, dateTime } = useI18n();
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const button = useRef<HTMLButtonElement>(null);
  const label = token.name ?? t('tokens.unnamed');
  const id = `token-${token.id}`;

  const revoke = async () => {
    setBusy(true);
    setError(null);
    try {
      await api('DELETE', `/api/me/tokens/${encodeURIComponent(token.id)}`);
      onRevoked();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <li className="token-row" data-testid="token-row" aria-labelledby={id}>
      <p id={id}>
        <strong>{label}</strong>
      </p>
      <dl className="details token-dates">
        <div>
          <dt>{t('tokens.createdAt')}</dt>
          <dd>{dateTime(token.createdAt)}</dd>
        </div>
        <div>
          <dt>{t('tokens.lastUsed')}</dt>
          <dd>{token.lastUsedAt ? dateTime(token.lastUsedAt) : t('tokens.never')}</dd>
        </div>
        <div>
          <dt>{t('tokens.expiresAt')}</dt>
          <dd>{token.expiresAt ? dateTime(token.expiresAt) : t('tokens.noExpiry')}</dd>
        </div>
      </dl>
      <button
        ref={button}
        type="button"
        className="button button-small"
        aria-label={t('tokens.revokeLabel', { name: label })}
        aria-expanded={confirming}
        disabled={busy}
        onClick={() => setConfirming(true)}
      >
        {t('tokens.revoke')}
      </button>
      {confirming ? (
        <ConfirmPanel
          id={`${id}-confirm`}
          title={t('tokens.revokeConfirmTitle', { name: label })}
          text={t('tokens.revokeConfirmText')}
          confirmLabel={t('tokens.revoke')}
          confirmClass="button-danger"
          busy={busy}
          onConfirm={() => void revoke()}
          onCancel={() => {
            setConfirming(false);
            button.current?.focus();
          }}
        />
      ) : null}
      <ErrorNotice error={error} />
    </li>
  );
}
