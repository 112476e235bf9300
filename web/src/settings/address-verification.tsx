// "Verified / not verified" for a mailbox's address, and the verify step: send a code (mailed through the
// company relay to the address), enter it. The relay sends only as verified addresses (SENDER_NOT_VERIFIED).
import { useId, useState } from 'react';
import { api } from '../api/client';
import type { EmailAccount } from '../api/types';
import { ErrorNotice, Notice } from '../components/common';
import { useI18n } from '../i18n/i18n';

export function AddressVerification({
  account,
  onVerified,
}: {
  account: EmailAccount;
  onVerified(account: EmailAccount): void;
}) {
  const { t } = useI18n();
  const [sent, setSent] = useState(false);
  const [code, setCode] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const inputId = useId();

  if (account.addressVerified) {
    return (
      <span className="badge badge-success" data-testid="address-verified">
        {t('verify.verified')}
      </span>
    );
  }

  const sendCode = async () => {
    setBusy(true);
    setError(null);
    try {
      await api('POST', `/api/email-accounts/${account.id}/verify`, {});
      setSent(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const confirm = async (event: React.FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onVerified(await api<EmailAccount>('POST', `/api/email-accounts/${account.id}/verify`, { code: code.trim() }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="address-verification" data-testid="address-unverified">
      <span className="badge badge-warning">{t('verify.notVerified')}</span>
      <p className="muted small">{t('verify.why')}</p>
      <ErrorNotice error={error} />
      {sent ? (
        <form onSubmit={(event) => void confirm(event)}>
          <Notice kind="info">{t('verify.sent', { email: account.email })}</Notice>
          <label htmlFor={inputId}>{t('verify.codeLabel')}</label>{' '}
          <input
            id={inputId}
            inputMode="numeric"
            autoComplete="one-time-code"
            pattern="[0-9]{6}"
            maxLength={6}
            required
            value={code}
            onChange={(event) => setCode(event.target.value)}
          />{' '}
          <button type="submit" className="button button-small" disabled={busy || code.trim().length !== 6}>
            {t('verify.confirm')}
          </button>{' '}
          <button type="button" className="button button-small" onClick={() => void sendCode()} disabled={busy}>
            {t('verify.resend')}
          </button>
        </form>
      ) : (
        <button type="button" className="button button-small" onClick={() => void sendCode()} disabled={busy}>
          {t('verify.send')}
        </button>
      )}
    </div>
  );
}
