// Sequences (issue 17): the caller's sequences from GET /api/sequences with their state (active or paused), number
// of steps, how many people are enrolled and have replied, and the reply rate. A row opens the sequence
// (/sequences/:id: editor, numbers and enrollments); "New sequence" opens an empty editor (/sequences/new).
import { api } from '../api/client';
import { ErrorNotice, Loading, PageHeader, useAsync } from '../components/common';
import { useI18n } from '../i18n/i18n';
import { Link } from '../router';
import { formatPercent, replyRateOf, type EnrollmentList, type Sequence, type SequenceList } from './sequence-types';

export function SequencesPage() {
  const { t } = useI18n();
  const list = useAsync((signal) => api<SequenceList>('GET', '/api/sequences', undefined, { signal }), []);
  const items = list.data?.items ?? [];

  return (
    <section>
      <PageHeader
        title={t('sequences.title')}
        actions={
          <>
            <button type="button" className="button" disabled={list.loading} onClick={() => void list.reload()}>
              {t('common.refresh')}
            </button>
            <Link to="/sequences/new" className="button button-primary">
              {t('sequences.new')}
            </Link>
          </>
        }
      />
      <p className="muted">{t('sequences.intro')}</p>
      <ErrorNotice error={list.error} />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && items.length === 0 ? <p className="empty">{t('sequences.empty')}</p> : null}
      {items.length > 0 ? (
        <div className="table-scroll">
          <table className="report sequence-table" data-testid="sequence-list">
            <thead>
              <tr>
                <th scope="col">{t('sequences.name')}</th>
                <th scope="col">{t('sequences.state')}</th>
                <th scope="col" className="num">
                  {t('sequences.steps')}
                </th>
                <th scope="col" className="num">
                  {t('sequences.enrolled')}
                </th>
                <th scope="col" className="num">
                  {t('sequences.replied')}
                </th>
                <th scope="col" className="num">
                  {t('sequences.replyRate')}
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((sequence) => (
                <SequenceRow key={sequence.id} sequence={sequence} />
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

function SequenceRow({ sequence }: { sequence: Sequence }) {
  const { t, number, locale } = useI18n();
  const stats = sequence.stats;
  const rate = replyRateOf(stats);
  return (
    <tr data-testid="sequence-row" data-name={sequence.name}>
      <th scope="row">
        <Link to={`/sequences/${encodeURIComponent(sequence.id)}`}>{sequence.name}</Link>
      </th>
      <td data-label={t('sequences.state')}>
        <span className={`badge ${sequence.paused ? 'badge-neutral' : 'badge-success'}`}>
          {sequence.paused ? t('sequences.paused') : t('sequences.active')}
        </span>
      </td>
      <td className="num" data-label={t('sequences.steps')}>
        {number(sequence.steps?.length ?? 0)}
      </td>
      <td className="num" data-label={t('sequences.enrolled')}>
        {typeof sequence.enrolled === 'number' ? (
          number(sequence.enrolled)
        ) : typeof stats?.enrolled === 'number' ? (
          number(stats.enrolled)
        ) : (
          <EnrolledCount sequenceId={sequence.id} />
        )}
      </td>
      <td className="num" data-label={t('sequences.replied')}>
        {typeof stats?.replied === 'number' ? number(stats.replied) : '—'}
      </td>
      <td className="num" data-label={t('sequences.replyRate')}>
        {rate === null ? '—' : formatPercent(locale, rate)}
      </td>
    </tr>
  );
}

/** When the server's stats carry no enrolled count, the enrollments list gives it (one request per row). */
function EnrolledCount({ sequenceId }: { sequenceId: string }) {
  const { number } = useI18n();
  const count = useAsync(
    (signal) =>
      api<EnrollmentList>('GET', `/api/sequences/${encodeURIComponent(sequenceId)}/enrollments`, undefined, {
        signal,
      }).then((list) => list.items.length),
    [sequenceId],
  );
  return <>{typeof count.data === 'number' ? number(count.data) : '—'}</>;
}
