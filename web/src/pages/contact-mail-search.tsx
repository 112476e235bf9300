// Searching a contact's mail (issue 18): a search box above the timeline; with words in it, the contact's mail that
// matches them (subject, people, attachment names, body), best match first, each with the excerpt where it was
// found. Without, the timeline (the children) as before.
import { useState, type ReactNode } from 'react';
import { api, query } from '../api/client';
import type { MessagePage, MessageSummary } from '../api/types';
import { ErrorNotice, Loading, addressLabel, useAsync } from '../components/common';
import { SearchForm } from '../components/search-form';
import { useI18n } from '../i18n/i18n';
import { Link } from '../router';
import { MatchSnippet } from '../mail/match-snippet';
import { messageLink } from './inbox-page';

export function ContactMailSearch({ contactId, children }: { contactId: string; children: ReactNode }) {
  const { t } = useI18n();
  const [q, setQ] = useState('');
  return (
    <>
      <SearchForm
        id="contact-mail-search"
        label={t('contact.searchMail')}
        placeholder={t('contact.searchMailPlaceholder')}
        onSearch={setQ}
        onClear={() => setQ('')}
      />
      {q ? <Results contactId={contactId} q={q} /> : children}
    </>
  );
}

function Results({ contactId, q }: { contactId: string; q: string }) {
  const { t, dateTime } = useI18n();
  const [more, setMore] = useState<{ q: string; items: MessageSummary[]; nextCursor: string | null } | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const page = useAsync(
    (signal) =>
      api<MessagePage>('GET', `/api/contacts/${contactId}/messages${query({ q, limit: 50 })}`, undefined, { signal }),
    [contactId, q],
  );
  const extra = more?.q === q ? more : null;
  const items = [...(page.data?.items ?? []), ...(extra?.items ?? [])];
  const nextCursor = extra ? extra.nextCursor : (page.data?.nextCursor ?? null);
  const loadMore = async () => {
    if (!nextCursor) return;
    setLoadingMore(true);
    try {
      const next = await api<MessagePage>(
        'GET',
        `/api/contacts/${contactId}/messages${query({ q, limit: 50, cursor: nextCursor })}`,
      );
      setMore({ q, items: [...(extra?.items ?? []), ...next.items], nextCursor: next.nextCursor });
    } finally {
      setLoadingMore(false);
    }
  };
  return (
    <>
      <ErrorNotice error={page.error} />
      {page.loading && !page.data ? <Loading /> : null}
      {page.data && items.length === 0 ? <p className="empty">{t('contact.searchNoResults', { q })}</p> : null}
      {items.length > 0 ? (
        <ol className="timeline" aria-label={t('contact.searchResults', { q })}>
          {items.map((m) => (
            <li key={m.id} className={`timeline-item timeline-mail ${m.direction}`}>
              <div className="timeline-content">
                <Link to={messageLink(m)} className="timeline-title">
                  {m.subject || t('message.noSubject')}
                </Link>
                <p className="muted small">
                  {m.direction === 'incoming'
                    ? t('contact.mailFrom', { from: addressLabel(m.from) })
                    : t('contact.mailTo', { to: m.to.map(addressLabel).join(', ') })}
                </p>
                {m.match ? (
                  <p className="timeline-snippet">
                    <MatchSnippet match={m.match} />
                  </p>
                ) : null}
              </div>
              <time dateTime={m.date} className="muted small">
                {dateTime(m.date)}
              </time>
            </li>
          ))}
        </ol>
      ) : null}
      {nextCursor ? (
        <p>
          <button type="button" className="button" onClick={() => void loadMore()} disabled={loadingMore}>
            {loadingMore ? t('common.loading') : t('common.loadMore')}
          </button>
        </p>
      ) : null}
    </>
  );
}
