// Enrolling from the contacts list (issue 17): the list's selection (a checkbox per row, kept by useContactSelection)
// and the "Add to sequence" action, which picks one of the caller's sequences and posts the selected contacts
// (POST /api/sequences/:id/enrollments). The answer is said in one line — "3 enrolled, 1 skipped (unsubscribed)" —
// and then contact by contact, every skip reason in the user's language.
import { useState, type FormEvent } from 'react';
import { api } from '../api/client';
import type { Contact } from '../api/types';
import { displayName, ErrorNotice, Loading, useAsync } from '../components/common';
import { useI18n } from '../i18n/i18n';
import { Link } from '../router';
import { isKnownReason, type EnrollResult, type SequenceList } from './sequence-types';

/** The most contacts one request enrolls: a list page holds 50 at a time, "load more" a few pages. */
const MAX_ENROLL = 500;

export interface ContactSelection {
  selected: ReadonlyMap<string, Contact>;
  toggle(contact: Contact, on: boolean): void;
  setAll(contacts: Contact[], on: boolean): void;
  clear(): void;
}

export function useContactSelection(): ContactSelection {
  const [selected, setSelected] = useState<ReadonlyMap<string, Contact>>(() => new Map());
  return {
    selected,
    toggle: (contact, on) =>
      setSelected((previous) => {
        const next = new Map(previous);
        if (on) next.set(contact.id, contact);
        else next.delete(contact.id);
        return next;
      }),
    setAll: (contacts, on) =>
      setSelected((previous) => {
        const next = new Map(previous);
        for (const c of contacts) {
          if (on) next.set(c.id, c);
          else next.delete(c.id);
        }
        return next;
      }),
    clear: () => setSelected(new Map()),
  };
}

/** The checkbox in front of a contact row. */
export function ContactSelectBox({ contact, selection }: { contact: Contact; selection: ContactSelection }) {
  const { t } = useI18n();
  return (
    <input
      type="checkbox"
      className="contact-select"
      checked={selection.selected.has(contact.id)}
      aria-label={t('sequences.selectContact', { name: displayName(contact) })}
      onChange={(e) => selection.toggle(contact, e.target.checked)}
    />
  );
}

/** "Select all shown", the count, and the Add to sequence action with its panel. */
export function AddToSequence({ shown, selection }: { shown: Contact[]; selection: ContactSelection }) {
  const { t, number } = useI18n();
  const [open, setOpen] = useState(false);
  const count = selection.selected.size;
  const allShown = shown.length > 0 && shown.every((c) => selection.selected.has(c.id));

  return (
    <div className="enroll-bar" data-testid="enroll-bar">
      <label className="field-inline enroll-all">
        <input
          type="checkbox"
          checked={allShown}
          disabled={shown.length === 0}
          onChange={(e) => selection.setAll(shown, e.target.checked)}
        />{' '}
        {t('sequences.selectAll')}
      </label>
      <span className="muted small" role="status" aria-live="polite">
        {count > 0 ? t('sequences.selectedCount', { count: number(count) }) : ''}
      </span>
      <button
        type="button"
        className="button"
        disabled={count === 0 && !open}
        aria-expanded={open}
        onClick={() => setOpen((o) => !o)}
      >
        {t('sequences.addToSequence')}
      </button>
      {open ? <EnrollPanel selection={selection} onClose={() => setOpen(false)} /> : null}
    </div>
  );
}

function EnrollPanel({ selection, onClose }: { selection: ContactSelection; onClose(): void }) {
  const { t } = useI18n();
  const sequences = useAsync((signal) => api<SequenceList>('GET', '/api/sequences', undefined, { signal }), []);
  const [sequenceId, setSequenceId] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [result, setResult] = useState<{ answer: EnrollResult; names: Map<string, string> } | null>(null);
  const items = sequences.data?.items ?? [];
  const chosen = sequenceId || items[0]?.id || '';
  const tooMany = selection.selected.size > MAX_ENROLL;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!chosen || tooMany) return;
    setBusy(true);
    setError(null);
    setResult(null);
    // The names as they were when sent: the selection is cleared after a success.
    const names = new Map([...selection.selected.values()].map((c) => [c.id, displayName(c)]));
    try {
      const answer = await api<EnrollResult>('POST', `/api/sequences/${encodeURIComponent(chosen)}/enrollments`, {
        contactIds: [...selection.selected.keys()],
      });
      setResult({ answer, names });
      selection.clear();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card enroll-panel" onSubmit={submit} aria-labelledby="enroll-title" data-testid="enroll-panel">
      <h2 id="enroll-title">{t('sequences.addToSequence')}</h2>
      {sequences.loading && !sequences.data ? <Loading /> : null}
      <ErrorNotice error={sequences.error} />
      {sequences.data && items.length === 0 ? (
        <p>
          {t('sequences.noSequencesYet')} <Link to="/sequences/new">{t('sequences.new')}</Link>
        </p>
      ) : null}
      {items.length > 0 && !result ? (
        <div className="field">
          <label htmlFor="enroll-sequence">{t('sequences.pickSequence')}</label>
          <select id="enroll-sequence" value={chosen} onChange={(e) => setSequenceId(e.target.value)}>
            {items.map((s) => (
              <option key={s.id} value={s.id}>
                {s.name}
                {s.paused ? ` (${t('sequences.paused')})` : ''}
              </option>
            ))}
          </select>
        </div>
      ) : null}
      {tooMany ? <p className="field-error">{t('sequences.tooMany', { max: MAX_ENROLL })}</p> : null}
      <ErrorNotice error={error} />
      {result ? <EnrollResultNotice result={result.answer} names={result.names} sequenceId={chosen} /> : null}
      <div className="form-actions">
        {result ? null : (
          <button
            type="submit"
            className="button button-primary"
            disabled={busy || !chosen || tooMany || selection.selected.size === 0}
          >
            {busy ? t('sequences.enrolling') : t('sequences.enrollN', { count: selection.selected.size })}
          </button>
        )}
        <button type="button" className="button" disabled={busy} onClick={onClose}>
          {result ? t('common.close') : t('common.cancel')}
        </button>
      </div>
    </form>
  );
}

function EnrollResultNotice({
  result,
  names,
  sequenceId,
}: {
  result: EnrollResult;
  names: Map<string, string>;
  sequenceId: string;
}) {
  const { t } = useI18n();
  const reasonText = (reason: string) => (isKnownReason(reason) ? t(`sequences.skip.${reason}`) : reason);
  // "1 skipped (unsubscribed)", "3 skipped (2 already enrolled, 1 unsubscribed)".
  const byReason = new Map<string, number>();
  for (const s of result.skipped) byReason.set(s.reason, (byReason.get(s.reason) ?? 0) + 1);
  const reasons =
    byReason.size === 1 && result.skipped.length > 0
      ? reasonText(result.skipped[0]!.reason)
      : [...byReason].map(([reason, n]) => `${n} ${reasonText(reason)}`).join(', ');
  const line =
    result.skipped.length === 0
      ? t('sequences.enrolledOnly', { enrolled: result.enrolled })
      : t('sequences.enrolledSkipped', { enrolled: result.enrolled, skipped: result.skipped.length, reasons });
  return (
    <div
      className={`notice ${result.enrolled > 0 ? 'notice-success' : 'notice-warning'}`}
      role="status"
      data-testid="enroll-result"
    >
      <p>
        {line} <Link to={`/sequences/${encodeURIComponent(sequenceId)}`}>{t('sequences.openSequence')}</Link>
      </p>
      {result.skipped.length > 0 ? (
        <ul className="skip-list">
          {result.skipped.map((s) => (
            <li key={s.contactId} data-reason={s.reason}>
              <Link to={`/contacts/${encodeURIComponent(s.contactId)}`}>{names.get(s.contactId) ?? s.contactId}</Link>
              {': '}
              {reasonText(s.reason)}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
