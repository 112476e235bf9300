// Small pieces every page uses: loading and error states, page headings with breadcrumbs, a copy button,
// a data-loading hook and the document title.
import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { ApiError } from '../api/client';
import { en } from '../i18n/messages-en';
import { useI18n, type MessageKey } from '../i18n/i18n';
import { Link } from '../router';

/** The localized headline for an API error code; the server's own message and hint follow it. */
/** True for an error code the dictionary has a text for (upper-case codes only: `error.hint` is no code). */
export function isKnownErrorCode(code: string): boolean {
  return /^[A-Z][A-Z0-9_]*$/.test(code) && Object.prototype.hasOwnProperty.call(en, `error.${code}`);
}

export function errorTitleKey(code: string): MessageKey {
  return (isKnownErrorCode(code) ? `error.${code}` : 'error.generic') as MessageKey;
}

/** Text with its http(s) URLs turned into links (hints carry the provider's instructions page). */
export function Linkified({ text }: { text: string }) {
  const parts = text.split(/(https?:\/\/[^\s)]+[^\s).,;])/g);
  return (
    <>
      {parts.map((part, i) =>
        /^https?:\/\//.test(part) ? (
          <a key={i} href={part} target="_blank" rel="noopener noreferrer">
            {part}
          </a>
        ) : (
          <span key={i}>{part}</span>
        ),
      )}
    </>
  );
}

export function ErrorNotice({ error, children }: { error: unknown; children?: ReactNode }) {
  const { t, serverText } = useI18n();
  if (!error) return null;
  const apiError = error instanceof ApiError ? error : null;
  const code = apiError?.code ?? 'generic';
  // A failed connection test says its message as a code too (`detail`): in the user's language when known.
  const detail = apiError ? textDetailOf(apiError.details, 'detail') : undefined;
  const hintDetail = apiError ? textDetailOf(apiError.details, 'hintDetail') : undefined;
  return (
    <div className="notice notice-error" role="alert" data-error-code={code}>
      <p className="notice-title">{t(errorTitleKey(code))}</p>
      {apiError?.message ? (
        <p className="notice-detail">
          <Linkified text={detail ? serverText(detail.code, detail.params, apiError.message) : apiError.message} />
        </p>
      ) : error instanceof Error && !apiError ? (
        <p className="notice-detail">{error.message}</p>
      ) : null}
      {apiError?.fields?.length ? (
        <ul className="notice-fields">
          {apiError.fields.map((f) => (
            <li key={f.path}>
              <code>{f.path}</code>: {f.message}
            </li>
          ))}
        </ul>
      ) : null}
      {apiError?.hint ? (
        <p className="notice-hint">
          <strong>{t('error.hint')}</strong>{' '}
          <Linkified
            text={hintDetail ? serverText(hintDetail.code, hintDetail.params, apiError.hint) : apiError.hint}
          />
        </p>
      ) : null}
      {children}
    </div>
  );
}

/** The envelope's `detail` or `hintDetail`, `{code, params}`, when it has that shape (any answer may come from a proxy). */
function textDetailOf(
  details: Record<string, unknown> | undefined,
  key: 'detail' | 'hintDetail',
): { code: string; params: Record<string, string | number> } | undefined {
  const detail = details?.[key] as { code?: unknown; params?: unknown } | undefined;
  if (!detail || typeof detail.code !== 'string') return undefined;
  const params = detail.params && typeof detail.params === 'object' ? detail.params : {};
  return { code: detail.code, params: params as Record<string, string | number> };
}

export function Notice({ kind = 'info', children }: { kind?: 'info' | 'success' | 'warning'; children: ReactNode }) {
  return (
    <div className={`notice notice-${kind}`} role="status">
      {children}
    </div>
  );
}

export function Loading() {
  const { t } = useI18n();
  return (
    <p className="loading" role="status" aria-live="polite">
      {t('common.loading')}
    </p>
  );
}

export interface Crumb {
  label: string;
  to?: string;
}

/** The page heading; focus moves to it after navigation so keyboard and screen-reader users start there. */
export function PageHeader({ title, crumbs, actions }: { title: string; crumbs?: Crumb[]; actions?: ReactNode }) {
  const { t } = useI18n();
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · Conversa`;
  }, [title]);
  // After a navigation (focus left on the body, or on the link that was followed in the header or the
  // breadcrumbs), start the new page at its heading.
  useEffect(() => {
    const active = document.activeElement;
    if (!active || active === document.body || active.closest('.app-header, .breadcrumbs'))
      heading.current?.focus({ preventScroll: true });
  }, []);
  return (
    <header className="page-header">
      {crumbs && crumbs.length > 0 ? (
        <nav aria-label={t('nav.breadcrumb')} className="breadcrumbs">
          <ol>
            {crumbs.map((crumb, i) => (
              <li key={i}>{crumb.to ? <Link to={crumb.to}>{crumb.label}</Link> : <span>{crumb.label}</span>}</li>
            ))}
          </ol>
        </nav>
      ) : null}
      <div className="page-title-row">
        <h1 ref={heading} tabIndex={-1}>
          {title}
        </h1>
        {actions ? <div className="page-actions">{actions}</div> : null}
      </div>
    </header>
  );
}

export function CopyButton({ text, label }: { text: string; label: string }) {
  const { t } = useI18n();
  const [copied, setCopied] = useState<'idle' | 'copied' | 'failed'>('idle');
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied('copied');
    } catch {
      // Clipboard refused (http, permissions): select the text so Ctrl+C works.
      setCopied('failed');
    }
    window.setTimeout(() => setCopied('idle'), 2500);
  };
  return (
    <>
      <button type="button" className="button button-small" onClick={copy} aria-label={label}>
        {t('common.copy')}
      </button>
      <span className="copy-feedback" role="status" aria-live="polite">
        {copied === 'copied' ? t('common.copied') : copied === 'failed' ? t('common.copyFailed') : ''}
      </span>
    </>
  );
}

export interface AsyncState<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload(): Promise<void>;
  setData(value: T | ((previous: T | undefined) => T)): void;
}

/** Loads data when `key` changes; keeps the previous data while reloading, drops answers that arrive late. */
export function useAsync<T>(load: (signal: AbortSignal) => Promise<T>, key: unknown[]): AsyncState<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const generation = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const run = useCallback(async (signal?: AbortSignal) => {
    const mine = ++generation.current;
    setLoading(true);
    try {
      const value = await loadRef.current(signal ?? new AbortController().signal);
      if (mine === generation.current) {
        setData(() => value);
        setError(undefined);
      }
    } catch (err) {
      if (err instanceof DOMException && err.name === 'AbortError') return;
      if (mine === generation.current) setError(err);
    } finally {
      if (mine === generation.current) setLoading(false);
    }
  }, []);
  useEffect(() => {
    const controller = new AbortController();
    void run(controller.signal);
    return () => controller.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps -- the caller names what the load depends on in `key`
  }, key);
  return { data, error, loading, reload: () => run(), setData };
}

/** Calls `tick` every `ms` while mounted (and the tab is visible). */
export function useInterval(tick: () => void, ms: number | null): void {
  const saved = useRef(tick);
  saved.current = tick;
  useEffect(() => {
    if (ms === null) return;
    const id = window.setInterval(() => {
      if (document.visibilityState !== 'hidden') saved.current();
    }, ms);
    return () => window.clearInterval(id);
  }, [ms]);
}

export function displayName(contact: { firstName: string | null; lastName: string | null; emails: string[] }): string {
  const name = [contact.firstName, contact.lastName].filter(Boolean).join(' ').trim();
  return name || contact.emails[0] || '—';
}

export function addressLabel(address: { address: string; name?: string } | null | undefined): string {
  if (!address) return '—';
  return address.name ? `${address.name} <${address.address}>` : address.address;
}

/** Splits "a@x.com, b@y.com; c@z.com" into addresses. */
export function splitAddresses(text: string): string[] {
  return text
    .split(/[,;\s]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * An inline confirmation of a consequential action (remove a mailbox, revoke a token, deactivate a user): a title,
 * what will happen, the action (focused) and Cancel. One shape for every such question in the app.
 */
export function ConfirmPanel(props: {
  id: string;
  title: string;
  text: string;
  confirmLabel: string;
  /** Extra class of the confirming button, e.g. `button-danger`. */
  confirmClass?: string;
  busy: boolean;
  /** A typed confirmation (erasing a contact, issue 19): the field goes here, the action waits for it. */
  children?: ReactNode;
  confirmDisabled?: boolean;
  onConfirm(): void;
  onCancel(): void;
}) {
  const { t } = useI18n();
  return (
    <div
      className="confirm"
      role="alertdialog"
      aria-labelledby={`${props.id}-title`}
      aria-describedby={`${props.id}-text`}
    >
      <p id={`${props.id}-title`} className="notice-title">
        {props.title}
      </p>
      <p id={`${props.id}-text`}>{props.text}</p>
      {props.children}
      <div className="form-actions">
        <button
          type="button"
          className={props.confirmClass ? `button ${props.confirmClass}` : 'button'}
          disabled={props.busy || props.confirmDisabled === true}
          autoFocus
          onClick={props.onConfirm}
        >
          {props.confirmLabel}
        </button>
        <button type="button" className="button" disabled={props.busy} onClick={props.onCancel}>
          {t('common.cancel')}
        </button>
      </div>
    </div>
  );
}
