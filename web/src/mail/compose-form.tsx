// Writing mail from the CRM: a new message or a reply (inReplyTo), from one of the user's mailboxes, written in
// the rich editor (HTML; the server makes the text/plain part), with the mailbox's signature, templates rendered
// for the contact, attachments sent as base64 in the JSON body (POST /api/messages, 25 MB in all), and the
// optional controls: send later (sendAt), a reminder when no reply comes, and tracking when the user turned it on.
// The servers of templates, scheduling, reminders and tracking may be absent: each control degrades to nothing.
import { useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { api, ApiError } from '../api/client';
import type { EmailAccount, SentMessage } from '../api/types';
import { useAccounts } from '../accounts';
import { ErrorNotice, splitAddresses } from '../components/common';
import { useI18n } from '../i18n/i18n';
import { Link } from '../router';
import { PaperclipIcon } from '../components/icons';
import { LazyRichEditor, textToHtml } from './lazy-rich-editor';
import type { RichEditorHandle } from './rich-editor';

const MAX_ATTACHMENTS_BYTES = 25 * 1024 * 1024;
const DEFAULT_REMIND_DAYS = 3;

export interface ComposeInitial {
  to?: string[];
  cc?: string[];
  subject?: string;
  inReplyTo?: string;
  accountId?: string;
  /** Plain text to start the body with. */
  body?: string;
  /** The contact written to (the contact page): the source of a template's merge fields. */
  contactId?: string;
}

/** GET /api/templates (issue 15's templates server); local until its types are exported. */
interface TemplateSummary {
  id: string;
  name: string;
  subject: string;
  html: string;
  shared: boolean;
}

interface RenderedTemplate {
  subject: string;
  html: string;
  missing: string[];
}

/** The sent answer's fields that later servers add (scheduling): read with optional access. */
type MaybeScheduled = SentMessage & { sendAt?: string | null };

function readAsBase64(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ''));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

/** 08:00 local time `days` days from today. */
function morningIn(days: number, from = new Date()): Date {
  const at = new Date(from);
  at.setDate(at.getDate() + days);
  at.setHours(8, 0, 0, 0);
  return at;
}

/** Next Monday 08:00 (a week on when today is Monday). */
function nextMonday(from = new Date()): Date {
  const days = (1 - from.getDay() + 7) % 7 || 7;
  return morningIn(days, from);
}

/** `YYYY-MM-DDTHH:MM` in local time, what <input type="datetime-local"> reads and writes. */
function localInputValue(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** The settings field the tracking server adds; absent (false) until it is there. */
async function loadTrackingEnabled(): Promise<boolean> {
  try {
    const settings = await api<{ trackingEnabled?: boolean }>('GET', '/api/me/settings');
    return settings.trackingEnabled === true;
  } catch {
    return false;
  }
}

/** The templates the user may use; an empty list when the server has none (or no templates route yet). */
async function loadTemplates(): Promise<TemplateSummary[]> {
  try {
    const page = await api<{ items: TemplateSummary[] }>('GET', '/api/templates');
    return page.items ?? [];
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return [];
    throw err;
  }
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
  const [html, setHtml] = useState(() => textToHtml(initial.body ?? ''));
  const [hasSignature, setHasSignature] = useState(false);
  const [editorReady, setEditorReady] = useState(false);
  const [files, setFiles] = useState<File[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [localError, setLocalError] = useState<string | null>(null);
  const [templates, setTemplates] = useState<TemplateSummary[] | null>(null);
  const [templateId, setTemplateId] = useState('');
  const [usedTemplateId, setUsedTemplateId] = useState<string | null>(null);
  const [contactId, setContactId] = useState<string | null>(initial.contactId ?? null);
  const [missing, setMissing] = useState<string[]>([]);
  const [remind, setRemind] = useState(false);
  const [remindDays, setRemindDays] = useState(DEFAULT_REMIND_DAYS);
  const [trackingEnabled, setTrackingEnabled] = useState(false);
  const [trackOpens, setTrackOpens] = useState(true);
  const [trackClicks, setTrackClicks] = useState(true);
  const [laterOpen, setLaterOpen] = useState(false);
  const [pickedTime, setPickedTime] = useState(() => localInputValue(morningIn(1)));
  const fileInput = useRef<HTMLInputElement>(null);
  const formRef = useRef<HTMLFormElement>(null);
  const editor = useRef<RichEditorHandle>(null);
  const signatureOf = useRef<string | null>(null);
  const idPrefix = useRef(`compose-${Math.random().toString(36).slice(2, 8)}`).current;

  useEffect(() => {
    if (!accountId && usable[0]) setAccountId(usable[0].id);
  }, [accountId, usable]);

  // The sending mailbox's signature: put in once the mailbox is known, swapped when the user picks another one.
  const account: EmailAccount | undefined = usable.find((a) => a.id === accountId);
  useEffect(() => {
    if (!account || !editorReady || signatureOf.current === account.id || !editor.current) return;
    signatureOf.current = account.id;
    editor.current.setSignature(account.signatureHtml ?? null);
    setHasSignature(editor.current.hasSignature());
  }, [account, editorReady]);

  // A reply starts in the message once the editor is there (it loads apart).
  useEffect(() => {
    if (editorReady && initial.to?.length) editor.current?.focus();
    // eslint-disable-next-line react-hooks/exhaustive-deps -- once, when the editor is ready
  }, [editorReady]);

  // Once, when the form opens: new mail starts in To; the optional controls load.
  useEffect(() => {
    if (!initial.to?.length) document.getElementById(`${idPrefix}-to`)?.focus();
    void loadTrackingEnabled().then(setTrackingEnabled);
    loadTemplates().then(setTemplates, () => setTemplates([]));
    // eslint-disable-next-line react-hooks/exhaustive-deps -- once on opening: a later prop must not move the focus
  }, []);

  const total = files.reduce((sum, f) => sum + f.size, 0);

  /** The contact of the first To address, when the CRM knows one: the merge source of templates. */
  const resolveContact = async (): Promise<string | null> => {
    if (initial.contactId) return initial.contactId;
    const first = splitAddresses(to)[0]
      ?.replace(/^.*<([^>]+)>\s*$/, '$1')
      .trim();
    if (!first) return null;
    try {
      const page = await api<{ items: Array<{ id: string }> }>(
        'GET',
        `/api/contacts?email=${encodeURIComponent(first)}&limit=1`,
      );
      return page.items[0]?.id ?? null;
    } catch {
      return null;
    }
  };

  const insertTemplate = async () => {
    const chosen = templates?.find((tpl) => tpl.id === templateId);
    if (!chosen) return;
    setError(null);
    setLocalError(null);
    try {
      const contact = await resolveContact();
      const rendered = await api<RenderedTemplate>(
        'POST',
        `/api/templates/${chosen.id}/render`,
        contact ? { contactId: contact } : {},
      );
      editor.current?.insertHtml(rendered.html);
      if (!subject.trim() && rendered.subject) setSubject(rendered.subject);
      setMissing(rendered.missing ?? []);
      setUsedTemplateId(chosen.id);
      setContactId(contact);
    } catch (err) {
      setError(err);
    }
  };

  const submit = async (sendAt?: Date) => {
    setError(null);
    setLocalError(null);
    const recipients = splitAddresses(to);
    if (recipients.length === 0) return setLocalError(t('compose.needRecipient'));
    if (!initial.inReplyTo && !subject.trim()) return setLocalError(t('compose.needSubject'));
    if (total > MAX_ATTACHMENTS_BYTES) return setLocalError(t('compose.tooLarge'));
    // A merge field left in the text would reach the recipient as "{{contact.firstName}}" (never "Hi ,").
    if (/\{\{[^}]*\}\}/.test(html) || /\{\{[^}]*\}\}/.test(subject)) return setLocalError(t('compose.unfilledFields'));
    if (sendAt && sendAt.getTime() <= Date.now()) return setLocalError(t('compose.pastTime'));
    setBusy(true);
    try {
      const attachments = await Promise.all(
        files.map(async (f) => ({
          filename: f.name,
          contentType: f.type || 'application/octet-stream',
          contentBase64: await readAsBase64(f),
        })),
      );
      // Only the fields in use: a server without the later features refuses fields it does not know.
      const sent = await api<SentMessage>('POST', '/api/messages', {
        accountId,
        to: recipients,
        ...(showCc && splitAddresses(cc).length ? { cc: splitAddresses(cc) } : {}),
        ...(subject.trim() ? { subject: subject.trim() } : {}),
        html,
        ...(initial.inReplyTo ? { inReplyTo: initial.inReplyTo } : {}),
        ...(attachments.length ? { attachments } : {}),
        ...(usedTemplateId ? { templateId: usedTemplateId } : {}),
        ...(contactId && (usedTemplateId || initial.contactId) ? { contactId } : {}),
        ...(sendAt ? { sendAt: sendAt.toISOString() } : {}),
        ...(remind ? { remindIfNoReplyDays: remindDays } : {}),
        ...(trackingEnabled ? { track: { opens: trackOpens, clicks: trackClicks } } : {}),
      });
      onSent(sent);
    } catch (err) {
      setError(err instanceof ApiError ? err : new Error(String(err)));
      setBusy(false);
    }
  };

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    void submit();
  };

  // Ctrl/Cmd+Enter sends from anywhere in the form (the editor stops its own line break for it).
  const onKeyDown = (event: KeyboardEvent<HTMLFormElement>) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey) && !busy) {
      event.preventDefault();
      formRef.current?.requestSubmit();
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
    <form
      ref={formRef}
      className="card compose"
      onSubmit={onSubmit}
      onKeyDown={onKeyDown}
      aria-label={heading}
      noValidate
    >
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
      <div className="field compose-template">
        {templates !== null && templates.length === 0 ? (
          <>
            <span className="field-label">{t('compose.template')}</span>
            <p className="muted small">{t('compose.templateNone')}</p>
          </>
        ) : (
          <div className="field-inline">
            <label htmlFor={`${idPrefix}-template`}>{t('compose.template')}</label>
            <select
              id={`${idPrefix}-template`}
              value={templateId}
              onChange={(e) => setTemplateId(e.target.value)}
              disabled={templates === null}
            >
              <option value="">{t('compose.templateChoose')}</option>
              {(templates ?? []).map((tpl) => (
                <option key={tpl.id} value={tpl.id}>
                  {tpl.shared ? `${tpl.name} (${t('compose.templateShared')})` : tpl.name}
                </option>
              ))}
            </select>
            <button
              type="button"
              className="button button-small"
              disabled={!templateId}
              onClick={() => void insertTemplate()}
            >
              {t('compose.templateInsert')}
            </button>
          </div>
        )}
      </div>
      {missing.length > 0 ? (
        <p className="notice notice-warning" role="alert" data-testid="template-missing">
          {t('compose.templateMissing', { fields: missing.join(', ') })}
        </p>
      ) : null}
      <div className="field">
        <span className="field-label" id={`${idPrefix}-body-label`}>
          {t('compose.body')}
        </span>
        <LazyRichEditor
          ref={editor}
          onReady={() => setEditorReady(true)}
          value={html}
          onChange={(next) => {
            setHtml(next);
            setHasSignature(editor.current?.hasSignature() ?? false);
          }}
          label={t('compose.body')}
        />
        <div className="compose-editor-foot">
          <small className="muted">{t('compose.shortcut')}</small>
          {account?.signatureHtml ? (
            <button
              type="button"
              className="button button-small button-quiet"
              onClick={() => {
                editor.current?.setSignature(hasSignature ? null : (account.signatureHtml ?? null));
                setHasSignature(editor.current?.hasSignature() ?? false);
              }}
            >
              {hasSignature ? t('compose.removeSignature') : t('compose.addSignature')}
            </button>
          ) : null}
        </div>
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
      <div className="compose-options">
        <div className="field field-check compose-remind">
          <input
            id={`${idPrefix}-remind`}
            type="checkbox"
            checked={remind}
            onChange={(e) => setRemind(e.target.checked)}
          />
          <label htmlFor={`${idPrefix}-remind`}>{t('compose.remind')}</label>
          <input
            type="number"
            className="compose-remind-days"
            min={1}
            max={90}
            value={remindDays}
            aria-label={t('compose.remindDays')}
            onChange={(e) => {
              setRemindDays(Math.min(90, Math.max(1, Number(e.target.value) || 1)));
              setRemind(true);
            }}
          />
          <span>{t('compose.remindDays')}</span>
        </div>
        {trackingEnabled ? (
          <fieldset className="compose-tracking">
            <legend>{t('compose.tracking')}</legend>
            <div className="field field-check">
              <input
                id={`${idPrefix}-opens`}
                type="checkbox"
                checked={trackOpens}
                onChange={(e) => setTrackOpens(e.target.checked)}
              />
              <label htmlFor={`${idPrefix}-opens`}>{t('compose.trackOpens')}</label>
            </div>
            <div className="field field-check">
              <input
                id={`${idPrefix}-clicks`}
                type="checkbox"
                checked={trackClicks}
                onChange={(e) => setTrackClicks(e.target.checked)}
              />
              <label htmlFor={`${idPrefix}-clicks`}>{t('compose.trackClicks')}</label>
            </div>
          </fieldset>
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
        <div className="send-later">
          <button
            type="button"
            className="button"
            aria-expanded={laterOpen}
            aria-controls={`${idPrefix}-later`}
            disabled={busy || !accountId}
            onClick={() => setLaterOpen(!laterOpen)}
          >
            {t('compose.sendLater')}
          </button>
          {laterOpen ? (
            <div
              className="send-later-menu"
              id={`${idPrefix}-later`}
              role="group"
              aria-label={t('compose.sendLaterMenu')}
            >
              <button
                type="button"
                className="button button-small button-quiet"
                onClick={() => void submit(new Date(Date.now() + 60 * 60 * 1000))}
              >
                {t('compose.inOneHour')}
              </button>
              <button
                type="button"
                className="button button-small button-quiet"
                onClick={() => void submit(morningIn(1))}
              >
                {t('compose.tomorrowMorning')}
              </button>
              <button
                type="button"
                className="button button-small button-quiet"
                onClick={() => void submit(nextMonday())}
              >
                {t('compose.mondayMorning')}
              </button>
              <div className="send-later-pick">
                <label htmlFor={`${idPrefix}-when`}>{t('compose.pickTime')}</label>
                <input
                  id={`${idPrefix}-when`}
                  type="datetime-local"
                  value={pickedTime}
                  min={localInputValue(new Date())}
                  onChange={(e) => setPickedTime(e.target.value)}
                />
                <button
                  type="button"
                  className="button button-small"
                  disabled={!pickedTime}
                  onClick={() => void submit(new Date(pickedTime))}
                >
                  {t('compose.schedule')}
                </button>
              </div>
            </div>
          ) : null}
        </div>
        <button type="button" className="button" onClick={onCancel} disabled={busy}>
          {t('common.cancel')}
        </button>
      </div>
    </form>
  );
}

export function SendResult({ message }: { message: SentMessage }) {
  const { t, dateTime, serverText } = useI18n();
  const status: string = message.sendStatus;
  if (status === 'failed') {
    return (
      <p className="notice notice-error" role="alert">
        {t('compose.failed')}{' '}
        {serverText(
          message.sendError?.reason?.code,
          message.sendError?.reason?.params,
          message.sendError?.message ?? '',
        )}
      </p>
    );
  }
  if (status === 'scheduled') {
    const sendAt = (message as MaybeScheduled).sendAt;
    return (
      <p className="notice notice-success" role="status" data-send-status={status}>
        {sendAt ? t('compose.scheduled', { when: dateTime(sendAt) }) : t('compose.queued')}{' '}
        <Link to="/scheduled">{t('compose.scheduledList')}</Link>
      </p>
    );
  }
  return (
    <p className="notice notice-success" role="status" data-send-status={status}>
      {status === 'sent' ? t('compose.sent') : t('compose.queued')}
    </p>
  );
}
