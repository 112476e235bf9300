// A sequence's numbers and its enrollments (issue 17), shown under the editor on /sequences/:id. The numbers come
// from the sequence's `stats` (GET /api/sequences/:id): per sequence sent, replied, bounced, unsubscribed, booked,
// opened (the automated opens of image proxies and scanners counted apart, never as people), clicked and the reply
// rate, and the same per step. The enrollments (GET /api/sequences/:id/enrollments) list each contact with a link,
// the state as a badge, the current step and when the next one is due, in the user's language and time zone.
import { useEffect, useRef, useState } from 'react';
import { api } from '../api/client';
import type { Contact } from '../api/types';
import { displayName, ErrorNotice, Loading, useAsync } from '../components/common';
import { useI18n, type MessageKey } from '../i18n/i18n';
import { Link } from '../router';
import {
  formatPercent,
  isKnownState,
  replyRateOf,
  stateBadgeClass,
  type Enrollment,
  type EnrollmentList,
  type Sequence,
  type SequenceStats,
} from './sequence-types';

/** How many contacts' names the table looks up at once, and in all (beyond that it shows the first page). */
const NAME_BATCH = 6;
const PAGE_SIZE = 100;

export function SequenceNumbers({
  sequenceId,
  initial,
  refreshKey,
}: {
  sequenceId: string;
  initial: Sequence;
  refreshKey: number;
}) {
  const { t, number, locale } = useI18n();
  const state = useAsync(
    (signal) =>
      refreshKey === 0
        ? Promise.resolve(initial)
        : api<Sequence>('GET', `/api/sequences/${encodeURIComponent(sequenceId)}`, undefined, { signal }),
    [sequenceId, refreshKey],
  );
  // Until the first refresh the page's own copy is the latest (a save or a pause replaces it).
  const latest = refreshKey === 0 ? initial : (state.data ?? initial);
  const stats: SequenceStats | undefined = latest.stats;
  const count = (value: number | undefined) => (typeof value === 'number' ? number(value) : '—');
  const rate = replyRateOf(stats);
  const steps = latest.stepStats ?? stats?.steps ?? [];

  return (
    <section className="card" aria-labelledby="sequence-numbers-title" data-testid="sequence-numbers">
      <h2 id="sequence-numbers-title">{t('sequences.numbers')}</h2>
      <ErrorNotice error={state.error} />
      {!stats ? (
        <p className="muted">{t('sequences.noNumbers')}</p>
      ) : (
        <>
          <dl className="stat-grid">
            <Stat label={t('sequences.sent')} value={count(stats.sent)} />
            <Stat
              label={t('sequences.opened')}
              value={count(stats.opened)}
              note={
                typeof stats.automatedOpens === 'number'
                  ? t('sequences.automatedApart', { count: number(stats.automatedOpens) })
                  : undefined
              }
            />
            <Stat label={t('sequences.clicked')} value={count(stats.clicked)} />
            <Stat label={t('sequences.replied')} value={count(stats.replied)} />
            <Stat label={t('sequences.replyRate')} value={rate === null ? '—' : formatPercent(locale, rate)} />
            <Stat label={t('sequences.bounced')} value={count(stats.bounced)} />
            <Stat label={t('sequences.unsubscribed')} value={count(stats.unsubscribed)} />
            <Stat label={t('sequences.booked')} value={count(stats.booked)} />
          </dl>
          <p className="help">{t('sequences.openedHelp')}</p>
          {steps.length > 0 ? (
            <div className="table-scroll">
              <table className="report" data-testid="step-numbers">
                <caption className="visually-hidden">{t('sequences.perStep')}</caption>
                <thead>
                  <tr>
                    <th scope="col">{t('sequences.step')}</th>
                    <th scope="col" className="num">
                      {t('sequences.sent')}
                    </th>
                    <th scope="col" className="num">
                      {t('sequences.opened')}
                    </th>
                    <th scope="col" className="num">
                      {t('sequences.clicked')}
                    </th>
                    <th scope="col" className="num">
                      {t('sequences.replied')}
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {steps.map((s) => (
                    <tr key={s.index}>
                      <th scope="row">{t('sequences.stepN', { n: s.index + 1 })}</th>
                      <td className="num">{count(s.sent)}</td>
                      <td className="num">
                        {count(s.opened)}
                        {typeof s.automatedOpens === 'number' && s.automatedOpens > 0 ? (
                          <span className="muted small">
                            {' '}
                            {t('sequences.automatedApart', { count: number(s.automatedOpens) })}
                          </span>
                        ) : null}
                      </td>
                      <td className="num">{count(s.clicked)}</td>
                      <td className="num">{count(s.replied)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : null}
        </>
      )}
    </section>
  );
}

function Stat({ label, value, note }: { label: string; value: string; note?: string | undefined }) {
  return (
    <div className="stat">
      <dt>{label}</dt>
      <dd>
        <span className="stat-value">{value}</span>
        {note ? <span className="muted small stat-note">{note}</span> : null}
      </dd>
    </div>
  );
}

export function EnrollmentsTable({
  sequenceId,
  steps,
  refreshKey,
}: {
  sequenceId: string;
  steps: number;
  refreshKey: number;
}) {
  const { t, dateTime, number } = useI18n();
  const [shown, setShown] = useState(PAGE_SIZE);
  const list = useAsync(
    (signal) =>
      api<EnrollmentList>('GET', `/api/sequences/${encodeURIComponent(sequenceId)}/enrollments`, undefined, {
        signal,
      }),
    [sequenceId, refreshKey],
  );
  const items = list.data?.items ?? [];
  const visible = items.slice(0, shown);
  const names = useContactNames(visible.filter((e) => !e.contactName).map((e) => e.contactId));

  return (
    <section className="card" aria-labelledby="enrollments-title" data-testid="enrollments">
      <h2 id="enrollments-title">
        {t('sequences.enrollments')} {list.data ? <span className="muted small">({number(items.length)})</span> : null}
      </h2>
      <ErrorNotice error={list.error} />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && items.length === 0 ? <p className="muted">{t('sequences.noEnrollments')}</p> : null}
      {visible.length > 0 ? (
        <div className="table-scroll">
          <table className="report enrollment-table" data-testid="enrollment-table">
            <thead>
              <tr>
                <th scope="col">{t('sequences.contact')}</th>
                <th scope="col">{t('sequences.state')}</th>
                <th scope="col">{t('sequences.currentStep')}</th>
                <th scope="col">{t('sequences.nextAt')}</th>
              </tr>
            </thead>
            <tbody>
              {visible.map((e) => (
                <tr key={e.contactId} data-testid="enrollment-row" data-state={e.state}>
                  <th scope="row">
                    <Link to={`/contacts/${encodeURIComponent(e.contactId)}`}>
                      {e.contactName || names.get(e.contactId) || t('sequences.contactLoading')}
                    </Link>
                  </th>
                  <td data-label={t('sequences.state')}>
                    <EnrollmentStateBadge state={e.state} />
                  </td>
                  <td data-label={t('sequences.currentStep')}>{stepLabel(t, e, steps)}</td>
                  <td data-label={t('sequences.nextAt')}>
                    {e.nextAt ? <time dateTime={e.nextAt}>{dateTime(e.nextAt)}</time> : '—'}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {items.length > shown ? (
        <button type="button" className="button" onClick={() => setShown((n) => n + PAGE_SIZE)}>
          {t('common.loadMore')}
        </button>
      ) : null}
    </section>
  );
}

/** "Step 2 of 3"; the server's `step` is the index of the step sent last or due next (0-based). */
function stepLabel(
  t: (key: MessageKey, vars?: Record<string, string | number>) => string,
  e: Enrollment,
  total: number,
) {
  const n = Math.min(Math.max(0, e.step) + 1, Math.max(total, 1));
  return total > 0 ? t('sequences.stepOf', { n, total }) : t('sequences.stepN', { n });
}

export function EnrollmentStateBadge({ state }: { state: string }) {
  const { t } = useI18n();
  return (
    <span className={`badge ${stateBadgeClass(state)}`} data-testid="enrollment-state">
      {isKnownState(state) ? t(`sequences.state.${state}`) : state}
    </span>
  );
}

/**
 * The names of the contacts the enrollments name (GET /api/contacts/:id, a few at a time): the enrollment list
 * carries ids only. A contact one may no longer see (404) keeps its placeholder rather than failing the table.
 */
function useContactNames(ids: string[]): Map<string, string> {
  const [names, setNames] = useState<Map<string, string>>(() => new Map());
  // Asked once per id for the life of the table; a refresh does not ask again for names it has.
  const requested = useRef(new Set<string>());
  const unmounted = useRef<AbortController | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    unmounted.current = controller;
    return () => controller.abort();
  }, []);
  const wanted = ids.filter((id) => !requested.current.has(id)).join(',');
  useEffect(() => {
    if (!wanted || !unmounted.current) return;
    const signal = unmounted.current.signal;
    const queue = wanted.split(',');
    for (const id of queue) requested.current.add(id);
    const worker = async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        const contact = await api<Contact>('GET', `/api/contacts/${encodeURIComponent(id)}`, undefined, {
          signal,
        }).catch(() => null);
        if (signal.aborted) return;
        const key = id;
        setNames((previous) => new Map(previous).set(key, contact ? displayName(contact) : '—'));
      }
    };
    void Promise.all(Array.from({ length: NAME_BATCH }, worker));
  }, [wanted]);
  return names;
}
