// Writing mail from the CRM: a new message or a reply (inReplyTo), from one of the user's mailboxes, with
// attachments sent as base64 in the JSON body (POST /api/messages, 25 MB in all).
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { api, ApiError } from '../api/client';
import type { SentMessage } from '../api/types';
import { useAccounts } from '../accounts';
import { ErrorNotice, splitAddresses } from '../components/common';
import { useI18n } from '../i18n/i18n';
import { Link } from '../router';
import { PaperclipIcon } from '../components/icons';

const MAX_ATTACHMENTS_BYTES = 25 * 1024 * 1024;

export interface ComposeInitial {
  to?: string[];
  cc?: string[];
  subject?: string;
  inReplyTo?: string;
  accountId?: string;
  body?: string;
}

function readAsBase64(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ''));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

export function ComposeForm({
  initial,
  heading,
  onSent,
  onCancel,
}: {
  initial: ComposeInitial;
  heading: string;
  onSent(message: SentMessage): void;
  onCancel(): void;
}) {
  const { t, bytes } = useI18n();
  const { accounts, loaded } = useAccounts();
  const usable = accounts.filter((a) => a.status !== 'needs_reconnect');
  const [accountId, setAccountId] = useState(initial.accountId ?? '');
  const [to, setTo] = useState((initial.to ?? []).join(', '));
  const [cc, setCc] = useState((initial.cc ?? []).join(', '));
  const [showCc, setShowCc] = useState((initial.cc ?? []).length > 0);
  const [subject, setSubject] = useState(initial.subject ?? '');
  const [body, setBody] = useState(initial.body ?? '');
  const [files, setFiles] = useState<File[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [localError, setLocalError] = useState<string | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const bodyRef = useRef<HTMLTextAreaElement>(null);
  const idPrefix = useRef(`compose-${Math.random().toString(36).slice(2, 8)}`).current;

  useEffect(() => {
    if (!accountId && usable[0]) setAccountId(usable[0].id);
  }, [accountId, usable]);

  // Once, when the form opens: a reply starts in the message, new mail in To.
  useEffect(() => {
    (initial.to?.length ? bodyRef.current : document.getElementById(`${idPrefix}-to`))?.focus();
    // eslint-disable-next-line react-hooks/exhaustive-deps -- once on opening: a later prop must not move the focus
  }, []);

  const total = files.reduce((sum, f) => sum + f.size, 0);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    setLocalError(null);
    const recipients = splitAddresses(to);
    if (recipients.length === 0) return setLocalError(t('compose.needRecipient'));
    if (!initial.inReplyTo && !subject.trim()) return setLocalError(t('compose.needSubject'));
    if (total > MAX_ATTACHMENTS_BYTES) return setLocalError(t('compose.tooLarge'));
    setBusy(true);
    try {
      const attachments = await Promise.all(
        files.map(async (f) => ({
          filename: f.name,
          contentType: f.type || 'application/octet-stream',
          contentBase64: await readAsBase64(f),
        })),
      );
      const sent = await api<SentMessage>('POST', '/api/messages', {
        accountId,
        to: recipients,
        ...(showCc && splitAddresses(cc).length ? { cc: splitAddresses(cc) } : {}),
        ...(subject.trim() ? { subject: subject.trim() } : {}),
        text: body,
        ...(initial.inReplyTo ? { inReplyTo: initial.inReplyTo } : {}),
        ...(attachments.length ? { attachments } : {}),
      });
      onSent(sent);
    } catch (err) {
      setError(err instanceof ApiError ? err : new Error(String(err)));
      setBusy(false);
    }
  };

  if (loaded && usable.length === 0) {
    return (
      <section className="card compose" aria-label={heading}>
        <h2>{heading}</h2>
        <p>{t('compose.noAccount')}</p>
        <p>
          <Link to="/settings/email">{t('emailSettings.connect')}</Link>
        </p>
        <button type="button" className="button" onClick={onCancel}>
          {t('common.cancel')}
        </button>
      </section>
    );
  }

  return (
    <form className="card compose" onSubmit={submit} aria-label={heading} noValidate>
      <h2>{heading}</h2>
      <div className="field">
        <label htmlFor={`${idPrefix}-from`}>{t('compose.from')}</label>
        <select id={`${idPrefix}-from`} value={accountId} onChange={(e) => setAccountId(e.target.value)} required>
          {usable.map((a) => (
            <option key={a.id} value={a.id}>
              {a.email}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor={`${idPrefix}-to`}>{t('compose.to')}</label>
        <input
          id={`${idPrefix}-to`}
          type="text"
          inputMode="email"
          autoComplete="off"
          value={to}
          onChange={(e) => setTo(e.target.value)}
          aria-describedby={`${idPrefix}-to-help`}
        />
        <small id={`${idPrefix}-to-help`} className="muted">
          {t('compose.toHelp')}
        </small>
      </div>
      {showCc ? (
        <div className="field">
          <label htmlFor={`${idPrefix}-cc`}>{t('compose.cc')}</label>
          <input
            id={`${idPrefix}-cc`}
            type="text"
            inputMode="email"
            autoComplete="off"
            value={cc}
            onChange={(e) => setCc(e.target.value)}
          />
        </div>
      ) : (
        <p>
          <button type="button" className="button button-small button-quiet" onClick={() => setShowCc(true)}>
            {t('compose.addCc')}
          </button>
        </p>
      )}
      <div className="field">
        <label htmlFor={`${idPrefix}-subject`}>{t('compose.subject')}</label>
        <input id={`${idPrefix}-subject`} type="text" value={subject} onChange={(e) => setSubject(e.target.value)} />
      </div>
      <div className="field">
        <label htmlFor={`${idPrefix}-body`}>{t('compose.body')}</label>
        <textarea
          id={`${idPrefix}-body`}
          ref={bodyRef}
          rows={8}
          value={body}
          onChange={(e) => setBody(e.target.value)}
        />
      </div>
      <div className="field">
        <label htmlFor={`${idPrefix}-files`}>{t('compose.attachments')}</label>
        <input
          id={`${idPrefix}-files`}
          ref={fileInput}
          type="file"
          multiple
          onChange={(e) => {
            const picked = Array.from(e.target.files ?? []);
            setFiles((list) => [...list, ...picked]);
            if (fileInput.current) fileInput.current.value = '';
          }}
        />
        {files.length > 0 ? (
          <ul className="attachment-list" aria-label={t('compose.attached')}>
            {files.map((f, i) => (
              <li key={`${f.name}-${i}`}>
                <span>
                  <PaperclipIcon /> {f.name} <span className="muted">({bytes(f.size)})</span>
                </span>
                <button
                  type="button"
                  className="button button-small button-quiet"
                  onClick={() => setFiles((list) => list.filter((_, j) => j !== i))}
                  aria-label={t('compose.removeAttachment', { name: f.name })}
                >
                  {t('common.remove')}
                </button>
              </li>
            ))}
          </ul>
        ) : null}
      </div>
      {localError ? (
        <p className="notice notice-error" role="alert">
          {localError}
        </p>
      ) : null}
      <ErrorNotice error={error} />
      <div className="form-actions">
        <button type="submit" className="button button-primary" disabled={busy || !accountId}>
          {busy ? t('compose.sending') : t('compose.send')}
        </button>
        <button type="button" className="button" onClick={onCancel} disabled={busy}>
          {t('common.cancel')}
        </button>
      </div>
    </form>
  );
}

export function SendResult({ message }: { message: SentMessage }) {
  const { t } = useI18n();
  if (message.sendStatus === 'failed') {
    return (
      <p className="notice notice-error" role="alert">
        {t('compose.failed')} {message.sendError?.message ?? ''}
      </p>
    );
  }
  return (
    <p className="notice notice-success" role="status" data-send-status={message.sendStatus}>
      {message.sendStatus === 'sent' ? t('compose.sent') : t('compose.queued')}
    </p>
  );
}
