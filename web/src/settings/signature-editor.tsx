// A mailbox's signature, written in the same rich editor as mail (PATCH /api/email-accounts/:id {signatureHtml}).
// The server sanitises it and answers the stored HTML; compose adds it below new mail and replies.
import { useId, useState, type FormEvent } from 'react';
import { api } from '../api/client';
import type { EmailAccount } from '../api/types';
import { ErrorNotice, Notice } from '../components/common';
import { useI18n } from '../i18n/i18n';
import { LazyRichEditor } from '../mail/lazy-rich-editor';

export function SignatureEditor({
  account,
  onSaved,
  onClose,
}: {
  account: EmailAccount;
  onSaved(account: EmailAccount): void;
  onClose(): void;
}) {
  const { t } = useI18n();
  const id = useId();
  const [html, setHtml] = useState(account.signatureHtml ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);

  const save = async (signatureHtml: string | null) => {
    setBusy(true);
    setError(null);
    setSaved(false);
    try {
      const next = await api<EmailAccount>('PATCH', `/api/email-accounts/${account.id}`, { signatureHtml });
      onSaved(next);
      setHtml(next.signatureHtml ?? '');
      setSaved(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    void save(html);
  };

  const title = t('signature.title', { email: account.email });
  return (
    <form className="card signature-editor" onSubmit={submit} aria-labelledby={`${id}-title`} noValidate>
      <h3 id={`${id}-title`}>{title}</h3>
      <p className="muted small">{t('signature.help')}</p>
      <LazyRichEditor value={html} onChange={setHtml} label={title} minHeight="short" />
      <ErrorNotice error={error} />
      {saved ? <Notice kind="success">{t('signature.saved')}</Notice> : null}
      <div className="form-actions">
        <button type="submit" className="button button-primary" disabled={busy}>
          {busy ? t('common.saving') : t('common.save')}
        </button>
        {account.signatureHtml ? (
          <button type="button" className="button button-danger" disabled={busy} onClick={() => void save(null)}>
            {t('signature.remove')}
          </button>
        ) : null}
        <button type="button" className="button" onClick={onClose} disabled={busy}>
          {t('common.close')}
        </button>
      </div>
    </form>
  );
}
