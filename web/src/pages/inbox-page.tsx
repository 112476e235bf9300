// Conversations › E-mail › Inbox: received mail of the user's mailboxes, newest first, with unread state,
// search, a mailbox filter, paging, and "New e-mail".
import { useState } from 'react';
import { api, query } from '../api/client';
import type { MessagePage, MessageSummary, SentMessage } from '../api/types';
import { useAccounts } from '../accounts';
import { ErrorNotice, Loading, PageHeader, useAsync } from '../components/common';
import { SearchForm } from '../components/search-form';
import { useI18n } from '../i18n/i18n';
import { ComposeForm, SendResult } from '../mail/compose-form';
import { Link, navigate, useLocation } from '../router';
import { PaperclipIcon } from '../components/icons';
import { useDebounced, useLiveEvents } from '../live/live-events';
import { MatchSnippet } from '../mail/match-snippet';

export function messageLink(message: Pick<MessageSummary, 'id' | 'threadId'>): string {
  return message.threadId ? `/threads/${message.threadId}?message=${message.id}` : `/messages/${message.id}`;
}

export function InboxPage() {
  const { t, shortDate, dateTime } = useI18n();
  const { accounts } = useAccounts();
  const { search } = useLocation();
  const q = search.get('q') ?? '';
  const accountId = search.get('accountId') ?? '';
  const [composing, setComposing] = useState(false);
  const [sent, setSent] = useState<SentMessage | null>(null);
  const [more, setMore] = useState<{ items: MessageSummary[]; nextCursor: string | null } | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);

  const page = useAsync(
    (signal) => api<MessagePage>('GET', `/api/inbox${query({ q, accountId, limit: 50 })}`, undefined, { signal }),
    [q, accountId],
  );

  const setFilters = (next: { q?: string; accountId?: string }) => {
    setMore(null);
    navigate(`/inbox${query({ q: next.q ?? q, accountId: next.accountId ?? accountId })}`, { replace: true });
  };

  // New mail and read changes (here, in another tab, or in a mail client) show without a reload.
  const refetch = useDebounced(() => void page.reload(), 300);
  useLiveEvents(['message.new', 'messages.bulk', 'message.read'], refetch);

  const items = [...(page.data?.items ?? []), ...(more?.items ?? [])];
  const nextCursor = more ? more.nextCursor : (page.data?.nextCursor ?? null);

  const loadMore = async () => {
    if (!nextCursor) return;
    setLoadingMore(true);
    try {
      const next = await api<MessagePage>('GET', `/api/inbox${query({ q, accountId, limit: 50, cursor: nextCursor })}`);
      setMore((previous) => ({ items: [...(previous?.items ?? []), ...next.items], nextCursor: next.nextCursor }));
    } finally {
      setLoadingMore(false);
    }
  };

  return (
    <section>
      <PageHeader
        title={t('inbox.title')}
        crumbs={[{ label: t('nav.conversations') }, { label: t('nav.email') }, { label: t('inbox.title') }]}
        actions={
          <>
            <button
              type="button"
              className="button"
              onClick={() => {
                setMore(null);
                void page.reload();
              }}
            >
              {t('common.refresh')}
            </button>
            <button
              type="button"
              className="button button-primary"
              onClick={() => {
                setSent(null);
                setComposing(true);
              }}
              aria-expanded={composing}
            >
              {t('inbox.newMail')}
            </button>
          </>
        }
      />
      {sent ? <SendResult message={sent} /> : null}
      {composing ? (
        <ComposeForm
          heading={t('inbox.newMail')}
          initial={accountId ? { accountId } : {}}
          onCancel={() => setComposing(false)}
          onSent={(message) => {
            setComposing(false);
            setSent(message);
          }}
        />
      ) : null}
      <div className="toolbar">
        <SearchForm
          id="inbox-search"
          label={t('inbox.search')}
          placeholder={t('inbox.searchPlaceholder')}
          initial={q}
          onSearch={(words) => setFilters({ q: words })}
        />
        <div className="field field-inline">
          <label htmlFor="inbox-account">{t('inbox.mailbox')}</label>
          <select id="inbox-account" value={accountId} onChange={(e) => setFilters({ accountId: e.target.value })}>
            <option value="">{t('inbox.allMailboxes')}</option>
            {accounts.map((a) => (
              <option key={a.id} value={a.id}>
                {a.email}
              </option>
            ))}
          </select>
        </div>
      </div>
      <ErrorNotice error={page.error} />
      {page.loading && !page.data ? <Loading /> : null}
      {page.data && items.length === 0 ? (
        <p className="empty">
          {q ? t('inbox.noResults', { q }) : accounts.length === 0 ? t('inbox.emptyNoAccount') : t('inbox.empty')}
        </p>
      ) : null}
      {page.data && items.length === 0 && accounts.length === 0 ? (
        <p>
          <Link to="/settings/email">{t('emailSettings.connect')}</Link>
        </p>
      ) : null}
      {items.length > 0 ? (
        <ul className="message-list" aria-label={t('inbox.listLabel')}>
          {items.map((m) => (
            <li key={m.id} className={m.read ? undefined : 'unread'} data-message-id={m.id}>
              <Link to={messageLink(m)} className="message-row">
                <span className="message-from">
                  {!m.read ? (
                    <span className="unread-dot" role="img" aria-label={t('inbox.unread')}>
                      ●
                    </span>
                  ) : null}
                  {m.from?.name || m.from?.address || '—'}
                </span>
                <span className="message-subject">
                  {m.subject || t('message.noSubject')}
                  {m.hasAttachments ? (
                    <span className="attachment-mark">
                      {' '}
                      <PaperclipIcon label={t('message.hasAttachments')} />
                    </span>
                  ) : null}
                  {m.bounced ? <span className="badge badge-error">{t('message.bounced')}</span> : null}
                </span>
                {m.match ? (
                  <MatchSnippet match={m.match} className="message-snippet" />
                ) : (
                  <span className="message-snippet">{m.snippet ?? ''}</span>
                )}
                <time className="message-date" dateTime={m.date} title={dateTime(m.date)}>
                  {shortDate(m.date)}
                </time>
              </Link>
            </li>
          ))}
        </ul>
      ) : null}
      {nextCursor ? (
        <p>
          <button type="button" className="button" onClick={() => void loadMore()} disabled={loadingMore}>
            {loadingMore ? t('common.loading') : t('common.loadMore')}
          </button>
        </p>
      ) : null}
    </section>
  );
}
