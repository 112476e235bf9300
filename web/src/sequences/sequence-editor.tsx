// One sequence (issue 17), new at /sequences/new or existing at /sequences/:id: its name, the sending mailbox (one
// of the user's own), the steps (email from a template or written here in the rich editor, or a task for the
// salesperson; a wait in days and hours before each; "reply in the same thread" for the follow-ups), the send
// window, the daily limit, and pause/resume. Saved with POST /api/sequences or PATCH /api/sequences/:id; the
// server's refusals show through ErrorNotice, what the page can check itself is said beside the field first.
// An existing sequence also shows its numbers per step and its enrollments (sequence-enrollments.tsx).
import { useMemo, useRef, useState, type FormEvent } from 'react';
import { useAccounts } from '../accounts';
import { api } from '../api/client';
import type { TemplateList } from '../api/types';
import { ErrorNotice, Loading, Notice, PageHeader, useAsync } from '../components/common';
import { useI18n, type MessageKey } from '../i18n/i18n';
import { LazyRichEditor } from '../mail/lazy-rich-editor';
import { Link, navigate } from '../router';
import { useSession } from '../session';
import { EnrollmentsTable, SequenceNumbers } from './sequence-enrollments';
import type { Sequence, SequenceInput, SequenceStep, StepType } from './sequence-types';

const WEEKDAYS = [1, 2, 3, 4, 5, 6, 7] as const;
const MINUTES_PER_DAY = 24 * 60;
/** The API's bounds as this page checks them before asking (the server checks again). */
const MAX_STEPS = 20;
const MAX_WAIT_DAYS = 365;

interface StepDraft {
  /** A stable React key: steps move, so their index is no key. */
  key: number;
  type: StepType;
  days: string;
  hours: string;
  /** Minutes below the hour a sequence saved elsewhere may carry: kept, not shown, so a save does not round them. */
  extraMinutes: number;
  source: 'template' | 'own';
  templateId: string;
  subject: string;
  html: string;
  replyInThread: boolean;
}

interface Draft {
  name: string;
  accountId: string;
  steps: StepDraft[];
  windowOn: boolean;
  timeZone: string;
  days: number[];
  from: string;
  to: string;
  limit: string;
  paused: boolean;
}

let nextKey = 1;

function browserZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/** Every zone the browser knows (and the current one, even when a server saved a zone this browser lacks). */
function timeZones(current: string): string[] {
  const supported = (Intl as { supportedValuesOf?: (key: string) => string[] }).supportedValuesOf?.('timeZone') ?? [];
  const zones = new Set([...supported, browserZone(), 'UTC', current]);
  return [...zones].filter(Boolean).sort();
}

function emptyStep(first: boolean): StepDraft {
  return {
    key: nextKey++,
    type: 'email',
    days: first ? '0' : '3',
    hours: '0',
    extraMinutes: 0,
    source: 'own',
    templateId: '',
    subject: '',
    html: '',
    replyInThread: !first,
  };
}

function stepDraft(step: SequenceStep): StepDraft {
  const wait = Math.max(0, Math.round(step.waitMinutes ?? 0));
  return {
    key: nextKey++,
    type: step.type,
    days: String(Math.floor(wait / MINUTES_PER_DAY)),
    hours: String(Math.floor((wait % MINUTES_PER_DAY) / 60)),
    extraMinutes: wait % 60,
    source: step.templateId ? 'template' : 'own',
    templateId: step.templateId ?? '',
    subject: step.subject ?? '',
    html: step.html ?? '',
    replyInThread: step.replyInThread ?? false,
  };
}

function draftOf(sequence: Sequence | null, defaultAccountId: string): Draft {
  const window = sequence?.sendWindow ?? null;
  return {
    name: sequence?.name ?? '',
    accountId: sequence?.accountId ?? defaultAccountId,
    steps: sequence ? sequence.steps.map(stepDraft) : [emptyStep(true)],
    windowOn: sequence ? window !== null : true,
    timeZone: window?.timeZone ?? browserZone(),
    days: window?.days ?? [1, 2, 3, 4, 5],
    from: window?.from ?? '09:00',
    to: window?.to ?? '17:00',
    limit: sequence?.dailyLimit != null ? String(sequence.dailyLimit) : '',
    paused: sequence?.paused ?? false,
  };
}

/** A whole number in [min, max] from a form field, or null. */
function wholeNumber(text: string, min: number, max: number): number | null {
  if (!/^\s*\d+\s*$/.test(text)) return null;
  const value = Number(text);
  return value >= min && value <= max ? value : null;
}

function waitMinutesOf(step: StepDraft): number | null {
  const days = wholeNumber(step.days || '0', 0, MAX_WAIT_DAYS);
  const hours = wholeNumber(step.hours || '0', 0, 23);
  if (days === null || hours === null) return null;
  return days * MINUTES_PER_DAY + hours * 60 + step.extraMinutes;
}

type Issues = Record<string, MessageKey>;

/** What the page can tell before asking the server; keyed by the id of the field concerned. */
function validate(draft: Draft): Issues {
  const issues: Issues = {};
  if (!draft.name.trim()) issues['sequence-name'] = 'sequences.invalid.name';
  if (!draft.accountId) issues['sequence-account'] = 'sequences.invalid.account';
  if (draft.steps.length === 0) issues['sequence-steps'] = 'sequences.invalid.noSteps';
  draft.steps.forEach((step, i) => {
    if (waitMinutesOf(step) === null) issues[`step-${step.key}-days`] = 'sequences.invalid.wait';
    if (step.type === 'task') {
      if (!step.subject.trim()) issues[`step-${step.key}-task`] = 'sequences.invalid.task';
    } else if (step.source === 'template') {
      if (!step.templateId) issues[`step-${step.key}-template`] = 'sequences.invalid.template';
    } else {
      // A follow-up in the thread takes "Re: " and the first subject; any other email needs its own.
      const inThread = i > 0 && step.replyInThread;
      if (!inThread && !step.subject.trim()) issues[`step-${step.key}-subject`] = 'sequences.invalid.subject';
      if (!step.html.replace(/<[^>]*>/g, '').trim()) issues[`step-${step.key}-html`] = 'sequences.invalid.body';
    }
  });
  if (draft.windowOn) {
    if (draft.days.length === 0) issues['sequence-days'] = 'sequences.invalid.days';
    if (!/^\d\d:\d\d$/.test(draft.from) || !/^\d\d:\d\d$/.test(draft.to) || draft.from >= draft.to)
      issues['sequence-to'] = 'sequences.invalid.hours';
    if (!draft.timeZone) issues['sequence-zone'] = 'sequences.invalid.zone';
  }
  if (draft.limit.trim() && wholeNumber(draft.limit, 1, 100_000) === null)
    issues['sequence-limit'] = 'sequences.invalid.limit';
  return issues;
}

function bodyOf(draft: Draft): SequenceInput {
  const limit = draft.limit.trim() ? wholeNumber(draft.limit, 1, 100_000) : null;
  return {
    name: draft.name.trim(),
    accountId: draft.accountId,
    steps: draft.steps.map((step, i): SequenceStep => {
      const base = { type: step.type, waitMinutes: waitMinutesOf(step) ?? 0 };
      if (step.type === 'task') return { ...base, subject: step.subject.trim() };
      const replyInThread = i > 0 && step.replyInThread;
      if (step.source === 'template') return { ...base, templateId: step.templateId, replyInThread };
      return { ...base, subject: step.subject.trim(), html: step.html, replyInThread };
    }),
    // null clears a window or a limit on PATCH (see save); the contract reads absence as "any time" / "no limit".
    sendWindow: draft.windowOn
      ? { timeZone: draft.timeZone, days: [...draft.days].sort((a, b) => a - b), from: draft.from, to: draft.to }
      : null,
    dailyLimit: limit,
  };
}

export function SequenceEditorPage({ id }: { id: string | null }) {
  const { t } = useI18n();
  const loaded = useAsync(
    (signal) =>
      id
        ? api<Sequence>('GET', `/api/sequences/${encodeURIComponent(id)}`, undefined, { signal })
        : Promise.resolve(null),
    [id],
  );
  const title = loaded.data?.name ?? (id ? t('sequences.title') : t('sequences.new'));
  const crumbs = [{ label: t('sequences.title'), to: '/sequences' }, { label: title }];

  if (loaded.error || (loaded.loading && loaded.data === undefined))
    return (
      <section>
        <PageHeader title={title} crumbs={crumbs} />
        <ErrorNotice error={loaded.error} />
        {loaded.error ? null : <Loading />}
      </section>
    );
  const sequence = loaded.data ?? null;
  return (
    <SequenceForm
      key={sequence?.id ?? 'new'}
      sequence={sequence}
      crumbs={crumbs}
      title={title}
      onSaved={(saved) => loaded.setData(saved)}
    />
  );
}

function SequenceForm({
  sequence,
  crumbs,
  title,
  onSaved,
}: {
  sequence: Sequence | null;
  crumbs: { label: string; to?: string }[];
  title: string;
  onSaved(sequence: Sequence): void;
}) {
  const { t } = useI18n();
  const { user } = useSession();
  const { accounts, loaded: accountsLoaded } = useAccounts();
  // Sequences send from the salesperson's own mailbox only, never from a colleague's shared one.
  const own = accounts.filter((a) => a.userId === user.id);
  const templates = useAsync((signal) => api<TemplateList>('GET', '/api/templates', undefined, { signal }), []);
  const [draft, setDraft] = useState<Draft>(() => draftOf(sequence, own[0]?.id ?? ''));
  // Checked as the user types once a save was tried, so a fixed field stops saying it is wrong.
  const [tried, setTried] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const [refreshKey, setRefreshKey] = useState(0);
  const zones = useMemo(() => timeZones(draft.timeZone), [draft.timeZone]);
  const summary = useRef<HTMLDivElement>(null);

  // The accounts arrive after the page: a new sequence takes the first own mailbox once they are there.
  if (!draft.accountId && own[0]) setDraft((d) => ({ ...d, accountId: own[0]!.id }));

  const set = <K extends keyof Draft>(key: K, value: Draft[K]) => setDraft((d) => ({ ...d, [key]: value }));
  const setStep = (key: number, patch: Partial<StepDraft>) =>
    setDraft((d) => ({ ...d, steps: d.steps.map((s) => (s.key === key ? { ...s, ...patch } : s)) }));
  const moveStep = (index: number, by: -1 | 1) =>
    setDraft((d) => {
      const steps = [...d.steps];
      const target = index + by;
      if (target < 0 || target >= steps.length) return d;
      [steps[index], steps[target]] = [steps[target]!, steps[index]!];
      return { ...d, steps };
    });

  const save = async (event: FormEvent) => {
    event.preventDefault();
    setDone(null);
    setError(null);
    const found = validate(draft);
    setTried(true);
    if (Object.keys(found).length > 0) {
      summary.current?.focus();
      return;
    }
    setBusy(true);
    try {
      const body = bodyOf(draft);
      if (sequence) {
        // null only to clear what the sequence has: a window or limit it never had is simply not sent.
        const { sendWindow, dailyLimit, ...rest } = body;
        const patch = {
          ...rest,
          ...(sendWindow || sequence.sendWindow ? { sendWindow } : {}),
          ...(dailyLimit || sequence.dailyLimit ? { dailyLimit } : {}),
        };
        const saved = await api<Sequence>('PATCH', `/api/sequences/${encodeURIComponent(sequence.id)}`, patch);
        onSaved(saved);
        setDone(t('sequences.saved', { name: saved.name }));
      } else {
        const { sendWindow, dailyLimit, ...rest } = body;
        const created = await api<Sequence>('POST', '/api/sequences', {
          ...rest,
          ...(sendWindow ? { sendWindow } : {}),
          ...(dailyLimit ? { dailyLimit } : {}),
          ...(draft.paused ? { paused: true } : {}),
        });
        navigate(`/sequences/${encodeURIComponent(created.id)}`, { replace: true });
      }
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const togglePause = async () => {
    if (!sequence) return;
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const saved = await api<Sequence>('PATCH', `/api/sequences/${encodeURIComponent(sequence.id)}`, {
        paused: !sequence.paused,
      });
      onSaved(saved);
      setDraft((d) => ({ ...d, paused: saved.paused ?? false }));
      setDone(saved.paused ? t('sequences.pausedDone') : t('sequences.resumedDone'));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const issues: Issues = tried ? validate(draft) : {};
  const issue = (fieldId: string) =>
    issues[fieldId] ? (
      <p id={`${fieldId}-issue`} className="field-error">
        {t(issues[fieldId])}
      </p>
    ) : null;
  const invalid = (fieldId: string) =>
    issues[fieldId] ? { 'aria-invalid': true as const, 'aria-describedby': `${fieldId}-issue` } : {};
  const issueCount = Object.keys(issues).length;
  const templateItems = templates.data?.items ?? [];

  return (
    <section data-testid="sequence-editor">
      <PageHeader
        title={title}
        crumbs={crumbs}
        actions={
          sequence ? (
            <>
              <span
                className={`badge ${sequence.paused ? 'badge-neutral' : 'badge-success'}`}
                data-testid="sequence-state"
              >
                {sequence.paused ? t('sequences.paused') : t('sequences.active')}
              </span>
              <button type="button" className="button" disabled={busy} onClick={() => void togglePause()}>
                {sequence.paused ? t('sequences.resume') : t('sequences.pause')}
              </button>
            </>
          ) : null
        }
      />
      {done ? <Notice kind="success">{done}</Notice> : null}
      <form className="card sequence-form" onSubmit={save} noValidate aria-label={title}>
        <div ref={summary} tabIndex={-1}>
          {issueCount > 0 ? (
            <div className="notice notice-error" role="alert" data-testid="sequence-issues">
              <p className="notice-title">{t('sequences.invalid.title', { count: issueCount })}</p>
            </div>
          ) : null}
        </div>
        <div className="form-grid">
          <div className="field">
            <label htmlFor="sequence-name">{t('sequences.name')}</label>
            <input
              id="sequence-name"
              value={draft.name}
              maxLength={200}
              required
              onChange={(e) => set('name', e.target.value)}
              {...invalid('sequence-name')}
            />
            {issue('sequence-name')}
          </div>
          <div className="field">
            <label htmlFor="sequence-account">{t('sequences.account')}</label>
            <select
              id="sequence-account"
              value={draft.accountId}
              onChange={(e) => set('accountId', e.target.value)}
              {...invalid('sequence-account')}
            >
              {draft.accountId && !own.some((a) => a.id === draft.accountId) ? (
                <option value={draft.accountId}>{t('sequences.accountOther')}</option>
              ) : null}
              {own.length === 0 ? <option value="">{t('sequences.noAccounts')}</option> : null}
              {own.map((a) => (
                <option key={a.id} value={a.id}>
                  {a.email}
                </option>
              ))}
            </select>
            {accountsLoaded && own.length === 0 ? (
              <p className="help">
                <Link to="/settings/email">{t('sequences.connectMailbox')}</Link>
              </p>
            ) : null}
            {issue('sequence-account')}
          </div>
        </div>

        <fieldset className="sequence-steps" id="sequence-steps">
          <legend>{t('sequences.steps')}</legend>
          {issue('sequence-steps')}
          {templates.error ? <ErrorNotice error={templates.error} /> : null}
          <ol className="step-list">
            {draft.steps.map((step, index) => (
              <li key={step.key} className="step-card" data-testid="sequence-step" data-index={index}>
                <div className="step-head">
                  <h3>{t('sequences.stepN', { n: index + 1 })}</h3>
                  <div className="step-tools">
                    <button
                      type="button"
                      className="button button-small button-quiet"
                      disabled={index === 0}
                      aria-label={t('sequences.moveUp', { n: index + 1 })}
                      onClick={() => moveStep(index, -1)}
                    >
                      ↑
                    </button>
                    <button
                      type="button"
                      className="button button-small button-quiet"
                      disabled={index === draft.steps.length - 1}
                      aria-label={t('sequences.moveDown', { n: index + 1 })}
                      onClick={() => moveStep(index, 1)}
                    >
                      ↓
                    </button>
                    <button
                      type="button"
                      className="button button-small button-danger"
                      disabled={draft.steps.length === 1}
                      aria-label={t('sequences.removeStep', { n: index + 1 })}
                      onClick={() => setDraft((d) => ({ ...d, steps: d.steps.filter((s) => s.key !== step.key) }))}
                    >
                      {t('common.remove')}
                    </button>
                  </div>
                </div>
                <div className="step-fields">
                  <div className="field">
                    <label htmlFor={`step-${step.key}-type`}>{t('sequences.stepType')}</label>
                    <select
                      id={`step-${step.key}-type`}
                      value={step.type}
                      onChange={(e) => setStep(step.key, { type: e.target.value as StepType })}
                    >
                      <option value="email">{t('sequences.type.email')}</option>
                      <option value="task">{t('sequences.type.task')}</option>
                    </select>
                  </div>
                  <fieldset className="field step-wait">
                    <legend>{index === 0 ? t('sequences.waitFirst') : t('sequences.wait')}</legend>
                    <div className="step-wait-inputs">
                      <label>
                        <input
                          id={`step-${step.key}-days`}
                          type="number"
                          min={0}
                          max={MAX_WAIT_DAYS}
                          inputMode="numeric"
                          value={step.days}
                          onChange={(e) => setStep(step.key, { days: e.target.value })}
                          {...invalid(`step-${step.key}-days`)}
                        />{' '}
                        {t('sequences.days')}
                      </label>
                      <label>
                        <input
                          id={`step-${step.key}-hours`}
                          type="number"
                          min={0}
                          max={23}
                          inputMode="numeric"
                          value={step.hours}
                          onChange={(e) => setStep(step.key, { hours: e.target.value })}
                        />{' '}
                        {t('sequences.hours')}
                      </label>
                    </div>
                    {issue(`step-${step.key}-days`)}
                  </fieldset>
                </div>
                {step.type === 'task' ? (
                  <div className="field">
                    <label htmlFor={`step-${step.key}-task`}>{t('sequences.taskText')}</label>
                    <input
                      id={`step-${step.key}-task`}
                      value={step.subject}
                      maxLength={500}
                      placeholder={t('sequences.taskPlaceholder')}
                      onChange={(e) => setStep(step.key, { subject: e.target.value })}
                      {...invalid(`step-${step.key}-task`)}
                    />
                    {issue(`step-${step.key}-task`)}
                  </div>
                ) : (
                  <>
                    {index > 0 ? (
                      <div className="field field-inline">
                        <input
                          id={`step-${step.key}-thread`}
                          type="checkbox"
                          checked={step.replyInThread}
                          onChange={(e) => setStep(step.key, { replyInThread: e.target.checked })}
                        />
                        <label htmlFor={`step-${step.key}-thread`}>{t('sequences.replyInThread')}</label>
                      </div>
                    ) : null}
                    <fieldset className="field step-source">
                      <legend>{t('sequences.content')}</legend>
                      <div className="step-source-options">
                        <label>
                          <input
                            type="radio"
                            name={`step-${step.key}-source`}
                            checked={step.source === 'template'}
                            onChange={() => setStep(step.key, { source: 'template' })}
                          />{' '}
                          {t('sequences.fromTemplate')}
                        </label>
                        <label>
                          <input
                            type="radio"
                            name={`step-${step.key}-source`}
                            checked={step.source === 'own'}
                            onChange={() => setStep(step.key, { source: 'own' })}
                          />{' '}
                          {t('sequences.ownText')}
                        </label>
                      </div>
                    </fieldset>
                    {step.source === 'template' ? (
                      <div className="field">
                        <label htmlFor={`step-${step.key}-template`}>{t('sequences.template')}</label>
                        <select
                          id={`step-${step.key}-template`}
                          value={step.templateId}
                          onChange={(e) => setStep(step.key, { templateId: e.target.value })}
                          {...invalid(`step-${step.key}-template`)}
                        >
                          <option value="">{t('sequences.chooseTemplate')}</option>
                          {step.templateId && !templateItems.some((x) => x.id === step.templateId) ? (
                            <option value={step.templateId}>{t('sequences.templateUnavailable')}</option>
                          ) : null}
                          {templateItems.map((x) => (
                            <option key={x.id} value={x.id}>
                              {x.name}
                              {x.shared ? ` (${t('templates.sharedBadge')})` : ''}
                            </option>
                          ))}
                        </select>
                        {templates.data && templateItems.length === 0 ? (
                          <p className="help">
                            <Link to="/settings/templates">{t('sequences.noTemplates')}</Link>
                          </p>
                        ) : null}
                        {issue(`step-${step.key}-template`)}
                      </div>
                    ) : (
                      <>
                        <div className="field">
                          <label htmlFor={`step-${step.key}-subject`}>
                            {t('sequences.subject')}
                            {index > 0 && step.replyInThread ? ` ${t('sequences.subjectOptional')}` : ''}
                          </label>
                          <input
                            id={`step-${step.key}-subject`}
                            value={step.subject}
                            maxLength={998}
                            onChange={(e) => setStep(step.key, { subject: e.target.value })}
                            {...invalid(`step-${step.key}-subject`)}
                          />
                          {issue(`step-${step.key}-subject`)}
                        </div>
                        <div className="field" id={`step-${step.key}-html`}>
                          <span className="field-label">{t('sequences.body')}</span>
                          <LazyRichEditor
                            value={step.html}
                            onChange={(html) => setStep(step.key, { html })}
                            label={t('sequences.bodyOfStep', { n: index + 1 })}
                            minHeight="short"
                          />
                          <p className="help">{t('sequences.mergeHelp')}</p>
                          {issue(`step-${step.key}-html`)}
                        </div>
                      </>
                    )}
                  </>
                )}
              </li>
            ))}
          </ol>
          <button
            type="button"
            className="button"
            disabled={draft.steps.length >= MAX_STEPS}
            onClick={() => setDraft((d) => ({ ...d, steps: [...d.steps, emptyStep(d.steps.length === 0)] }))}
          >
            {t('sequences.addStep')}
          </button>
        </fieldset>

        <fieldset className="sequence-window">
          <legend>{t('sequences.window')}</legend>
          <div className="field field-inline">
            <input
              id="sequence-window-on"
              type="checkbox"
              checked={draft.windowOn}
              onChange={(e) => set('windowOn', e.target.checked)}
            />
            <label htmlFor="sequence-window-on">{t('sequences.windowOn')}</label>
          </div>
          {draft.windowOn ? (
            <>
              <div className="field">
                <label htmlFor="sequence-zone">{t('sequences.timeZone')}</label>
                <select
                  id="sequence-zone"
                  value={draft.timeZone}
                  onChange={(e) => set('timeZone', e.target.value)}
                  {...invalid('sequence-zone')}
                >
                  {zones.map((zone) => (
                    <option key={zone} value={zone}>
                      {zone}
                    </option>
                  ))}
                </select>
                {issue('sequence-zone')}
              </div>
              <fieldset className="field" id="sequence-days">
                <legend>{t('sequences.weekdays')}</legend>
                <div className="weekday-checks">
                  {WEEKDAYS.map((d) => (
                    <label key={d}>
                      <input
                        type="checkbox"
                        checked={draft.days.includes(d)}
                        onChange={(e) =>
                          set('days', e.target.checked ? [...draft.days, d] : draft.days.filter((x) => x !== d))
                        }
                      />{' '}
                      {t(`weekday.${d}` as MessageKey)}
                    </label>
                  ))}
                </div>
                {issue('sequence-days')}
              </fieldset>
              <div className="form-grid">
                <div className="field">
                  <label htmlFor="sequence-from">{t('sequences.from')}</label>
                  <input
                    id="sequence-from"
                    type="time"
                    value={draft.from}
                    onChange={(e) => set('from', e.target.value)}
                  />
                </div>
                <div className="field">
                  <label htmlFor="sequence-to">{t('sequences.to')}</label>
                  <input
                    id="sequence-to"
                    type="time"
                    value={draft.to}
                    onChange={(e) => set('to', e.target.value)}
                    {...invalid('sequence-to')}
                  />
                  {issue('sequence-to')}
                </div>
              </div>
            </>
          ) : (
            <p className="help">{t('sequences.windowOff')}</p>
          )}
        </fieldset>

        <div className="field">
          <label htmlFor="sequence-limit">{t('sequences.dailyLimit')}</label>
          <input
            id="sequence-limit"
            type="number"
            min={1}
            inputMode="numeric"
            value={draft.limit}
            placeholder={t('sequences.noLimit')}
            onChange={(e) => set('limit', e.target.value)}
            {...invalid('sequence-limit')}
          />
          <p className="help">{t('sequences.dailyLimitHelp')}</p>
          {issue('sequence-limit')}
        </div>
        {sequence ? null : (
          <div className="field field-inline">
            <input
              id="sequence-paused"
              type="checkbox"
              checked={draft.paused}
              onChange={(e) => set('paused', e.target.checked)}
            />
            <label htmlFor="sequence-paused">{t('sequences.startPaused')}</label>
          </div>
        )}
        <ErrorNotice error={error} />
        <div className="form-actions">
          <button type="submit" className="button button-primary" disabled={busy}>
            {busy ? t('common.saving') : sequence ? t('common.save') : t('sequences.create')}
          </button>
          <Link to="/sequences" className="button">
            {t('common.cancel')}
          </Link>
        </div>
      </form>
      {sequence ? (
        <>
          <div className="toolbar sequence-refresh">
            <button type="button" className="button" onClick={() => setRefreshKey((k) => k + 1)}>
              {t('common.refresh')}
            </button>
          </div>
          <SequenceNumbers sequenceId={sequence.id} initial={sequence} refreshKey={refreshKey} />
          <EnrollmentsTable sequenceId={sequence.id} steps={sequence.steps.length} refreshKey={refreshKey} />
        </>
      ) : null}
    </section>
  );
}
