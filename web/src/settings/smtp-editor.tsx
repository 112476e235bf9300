// Editar SMTP: which server sends this account's mail — the mailbox's own (recommended), the application's
// relay, or a custom server (tested by the API before saving) — and the sender domain's SPF/DKIM/DMARC report
// with what to fix.
import { useId, useState, type FormEvent } from 'react';
import { api } from '../api/client';
import type { DeliverabilityReport, EmailAccount, SmtpMode, SmtpSettings } from '../api/types';
import { ErrorNotice, Loading, Notice, useAsync } from '../components/common';
import { useI18n, type MessageKey } from '../i18n/i18n';

const CHECK_STATUS = new Set(['pass', 'fail', 'missing', 'weak', 'error', 'unknown']);

export function SmtpEditor({ account, onClose }: { account: EmailAccount; onClose(): void }) {
  const { t } = useI18n();
  const id = useId();
  const current = useAsync(
    (signal) => api<SmtpSettings>('GET', `/api/email-accounts/${account.id}/smtp`, undefined, { signal }),
    [account.id],
  );
  const [mode, setMode] = useState<SmtpMode | null>(null);
  const [host, setHost] = useState<string | null>(null);
  const [port, setPort] = useState<number | null>(null);
  const [secure, setSecure] = useState<boolean | null>(null);
  const [username, setUsername] = useState<string | null>(null);
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);

  const data = current.data;
  const effectiveMode = mode ?? data?.mode ?? 'mailbox';
  const values = {
    host: host ?? data?.host ?? '',
    port: port ?? data?.port ?? 587,
    secure: secure ?? data?.secure ?? false,
    username: username ?? data?.username ?? '',
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setSaved(false);
    try {
      const body =
        effectiveMode === 'custom'
          ? {
              mode: effectiveMode,
              host: values.host.trim(),
              port: Number(values.port),
              secure: values.secure,
              ...(values.username.trim() ? { username: values.username.trim() } : {}),
              ...(password ? { password } : {}),
            }
          : { mode: effectiveMode };
      const next = await api<SmtpSettings>('PUT', `/api/email-accounts/${account.id}/smtp`, body);
      current.setData(next);
      setMode(null);
      setPassword('');
      setSaved(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const radio = (value: SmtpMode, label: MessageKey, help: MessageKey, disabled = false) => (
    <div className="radio-card">
      <input
        id={`${id}-${value}`}
        type="radio"
        name={`${id}-mode`}
        value={value}
        checked={effectiveMode === value}
        disabled={disabled}
        onChange={() => setMode(value)}
        aria-describedby={`${id}-${value}-help`}
      />
      <label htmlFor={`${id}-${value}`}>{t(label)}</label>
      <p id={`${id}-${value}-help`} className="muted small">
        {t(help)}
      </p>
    </div>
  );

  return (
    <section className="card smtp-editor" aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`}>{t('smtp.title', { email: account.email })}</h3>
      <ErrorNotice error={current.error} />
      {current.loading && !data ? <Loading /> : null}
      {data ? (
        <form onSubmit={submit} noValidate>
          <fieldset>
            <legend>{t('smtp.mode')}</legend>
            {radio('mailbox', 'smtp.mailbox', 'smtp.mailboxHelp')}
            {radio('app', 'smtp.app', data.appAvailable ? 'smtp.appHelp' : 'smtp.appUnavailable', !data.appAvailable)}
            {radio('custom', 'smtp.custom', 'smtp.customHelp')}
          </fieldset>
          {effectiveMode === 'custom' ? (
            <fieldset className="endpoint">
              <legend>{t('smtp.customServer')}</legend>
              <div className="field">
                <label htmlFor={`${id}-host`}>{t('connect.smtpHost')}</label>
                <input
                  id={`${id}-host`}
                  value={values.host}
                  onChange={(e) => setHost(e.target.value)}
                  spellCheck={false}
                />
              </div>
              <div className="field field-port">
                <label htmlFor={`${id}-port`}>{t('connect.smtpPort')}</label>
                <input
                  id={`${id}-port`}
                  type="number"
                  min={1}
                  max={65535}
                  value={values.port}
                  onChange={(e) => setPort(Number(e.target.value))}
                />
              </div>
              <div className="field field-check">
                <input
                  id={`${id}-secure`}
                  type="checkbox"
                  checked={values.secure}
                  onChange={(e) => setSecure(e.target.checked)}
                />
                <label htmlFor={`${id}-secure`}>{t('connect.smtpSecure')}</label>
              </div>
              <div className="field">
                <label htmlFor={`${id}-user`}>{t('connect.username')}</label>
                <input
                  id={`${id}-user`}
                  value={values.username}
                  onChange={(e) => setUsername(e.target.value)}
                  autoComplete="off"
                  spellCheck={false}
                />
              </div>
              <div className="field">
                <label htmlFor={`${id}-password`}>{t('connect.password')}</label>
                <input
                  id={`${id}-password`}
                  type="password"
                  autoComplete="new-password"
                  value={password}
                  onChange={(e) => setPassword(e.target.value)}
                  placeholder={data.passwordSet ? t('smtp.passwordUnchanged') : ''}
                />
              </div>
            </fieldset>
          ) : null}
          <ErrorNotice error={error} />
          {saved ? <Notice kind="success">{t('smtp.saved')}</Notice> : null}
          <div className="form-actions">
            <button type="submit" className="button button-primary" disabled={busy}>
              {busy ? t('connect.testing') : t('common.save')}
            </button>
            <button type="button" className="button" onClick={onClose}>
              {t('common.close')}
            </button>
          </div>
        </form>
      ) : null}
      <DeliverabilityReportView accountId={account.id} />
    </section>
  );
}

function DeliverabilityReportView({ accountId }: { accountId: string }) {
  const { t, serverText } = useI18n();
  const [requested, setRequested] = useState(0);
  const report = useAsync(
    (signal) =>
      requested > 0
        ? api<DeliverabilityReport>('GET', `/api/email-accounts/${accountId}/deliverability`, undefined, { signal })
        : Promise.resolve(null),
    [accountId, requested],
  );
  const statusLabel = (status: string) =>
    CHECK_STATUS.has(status) ? t(`deliverability.status.${status}` as MessageKey) : status;
  const rows: Array<[string, DeliverabilityReport['spf'] & { selector?: string; policy?: string }]> = report.data
    ? [
        ['SPF', report.data.spf],
        ['DKIM', report.data.dkim],
        ['DMARC', report.data.dmarc],
      ]
    : [];
  return (
    <section className="deliverability" aria-labelledby={`deliverability-${accountId}`}>
      <h4 id={`deliverability-${accountId}`}>{t('deliverability.title')}</h4>
      <p className="muted small">{t('deliverability.intro')}</p>
      <button
        type="button"
        className="button button-small"
        onClick={() => setRequested((n) => n + 1)}
        disabled={report.loading && requested > 0}
      >
        {requested === 0 ? t('deliverability.check') : t('deliverability.recheck')}
      </button>
      {requested > 0 && report.loading ? <Loading /> : null}
      <ErrorNotice error={report.error} />
      {report.data ? (
        <>
          <p>
            {t('deliverability.domain')} <code>{report.data.domain}</code>
          </p>
          <table className="report">
            <thead>
              <tr>
                <th scope="col">{t('deliverability.check')}</th>
                <th scope="col">{t('deliverability.result')}</th>
                <th scope="col">{t('deliverability.whatToDo')}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map(([name, check]) => (
                <tr key={name}>
                  <th scope="row">{name}</th>
                  <td>
                    <span
                      className={`badge ${check.status === 'pass' ? 'badge-success' : check.status === 'weak' || check.status === 'unknown' ? 'badge-warning' : 'badge-error'}`}
                    >
                      {statusLabel(check.status)}
                    </span>
                    {check.record ? <code className="record">{check.record}</code> : null}
                  </td>
                  <td data-testid={`fix-${name}`}>
                    {check.fix !== undefined
                      ? serverText(check.fixCode, check.fixParams, check.fix)
                      : check.status === 'pass'
                        ? t('deliverability.nothing')
                        : ''}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
    </section>
  );
}
