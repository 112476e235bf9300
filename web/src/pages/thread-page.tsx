// One conversation: the thread's messages oldest first, each with its body (sanitised HTML in a sandboxed
// frame, or text), its attachments to download, and a reply form. Reached by thread id, or by message id
// for mail that has no thread.
import { useEffect, useRef, useState } from 'react';
import { api } from '../api/client';
import type { Contact, MessageDetail, MessageSummary, SentMessage, Thread } from '../api/types';
import { ErrorNotice, Loading, PageHeader, addressLabel, displayName, useAsync } from '../components/common';
import { useI18n } from '../i18n/i18n';
import { ComposeForm, SendResult, type ComposeInitial } from '../mail/compose-form';
import { MessageBody } from '../mail/message-frame';
import { Link, useLocation } from '../router';
import { PaperclipIcon } from '../components/icons';
import { TrackingDetails } from '../mail/tracking-summary';
import { useDebounced, useLiveEvents, useUnreadCount } from '../live/live-events';

interface Loaded {
  subject: string | null;
  messages: MessageDetail[];
  contacts: Contact[];
}

async function loadConversation(
  threadId: string | undefined,
  messageId: string | undefined,
  signal: AbortSignal,
): Promise<Loaded> {
  let thread: Thread | null = null;
  let single: MessageDetail | null = null;
  if (threadId) {
    thread = await api<Thread>('GET', `/api/threads/${threadId}`, undefined, { signal });
  } else if (messageId) {
    single = await api<MessageDetail>('GET', `/api/messages/${messageId}`, undefined, { signal });
    if (single.threadId) thread = await api<Thread>('GET', `/api/threads/${single.threadId}`, undefined, { signal });
  }
  const messages = thread
    ? await Promise.all(
        thread.messages.map((m) =>
          single && m.id === single.id
            ? single
            : api<MessageDetail>('GET', `/api/messages/${m.id}`, undefined, { signal }),
        ),
      )
    : single
      ? [single]
      : [];
  const contactIds = [...new Set(messages.flatMap((m) => m.contactIds))].slice(0, 12);
  const contacts = (
    await Promise.all(
      contactIds.map((id) => api<Contact>('GET', `/api/contacts/${id}`, undefined, { signal }).catch(() => null)),
    )
  ).filter((c): c is Contact => c !== null);
  return { subject: thread?.subject ?? single?.subject ?? null, messages, contacts };
}

function replyTo(message: MessageDetail): ComposeInitial {
  const to =
    message.direction === 'incoming' ? (message.from ? [message.from.address] : []) : message.to.map((a) => a.address);
  const subject = message.subject ?? '';
  return { to, subject: /^re:/i.test(subject) ? subject : `Re: ${subject}`.trim(), inReplyTo: message.id };
}

export function ThreadPage({ threadId, messageId }: { threadId?: string; messageId?: string }) {
  const { t } = useI18n();
  const { search } = useLocation();
  const focusId = search.get('message');
  const conversation = useAsync((signal) => loadConversation(threadId, messageId, signal), [threadId, messageId]);
  const [replying, setReplying] = useState<MessageDetail | null>(null);
  const [sent, setSent] = useState<SentMessage | null>(null);

  const messages = conversation.data?.messages ?? [];
  const last = messages[messages.length - 1];
  const { refresh: refreshUnread } = useUnreadCount();
  const { setData } = conversation;

  /** The read state of some messages as shown here, after the server took it. */
  const showRead = (ids: string[], read: boolean) =>
    setData((current) => ({
      subject: current?.subject ?? null,
      contacts: current?.contacts ?? [],
      messages: (current?.messages ?? []).map((m) => (ids.includes(m.id) ? { ...m, read, unread: !read } : m)),
    }));

  // Opening a conversation reads it: its unread messages are marked read (once each; "Mark unread" stays unread).
  const marked = useRef(new Set<string>());
  useEffect(() => {
    const unread = (conversation.data?.messages ?? []).filter((m) => !m.read && !marked.current.has(m.id));
    if (unread.length === 0) return;
    for (const m of unread) marked.current.add(m.id);
    void Promise.all(
      unread.map((m) =>
        api<MessageSummary>('PATCH', `/api/messages/${m.id}`, { read: true }).then(
          () => m.id,
          () => null,
        ),
      ),
    ).then((done) => {
      showRead(
        done.filter((id): id is string => id !== null),
        true,
      );
      refreshUnread();
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps -- runs when the loaded messages change
  }, [conversation.data]);

  // A new message in this conversation (a reply synced, a send from another tab) shows without a reload.
  const currentThread = threadId ?? messages[0]?.threadId ?? null;
  const reload = useDebounced(() => void conversation.reload(), 300);
  useLiveEvents(['message.new', 'message.read', 'tracking.event'], (event) => {
    if (event.type === 'message.new' && currentThread && event.data.threadId === currentThread) reload();
    if (event.type === 'tracking.event' && messages.some((m) => m.id === event.data.messageId)) reload();
    if (event.type === 'message.read' && messages.some((m) => m.id === event.data.messageId)) {
      marked.current.add(event.data.messageId);
      showRead([event.data.messageId], event.data.read);
    }
  });

  const toggleRead = async (message: MessageDetail) => {
    const read = !message.read;
    marked.current.add(message.id);
    await api<MessageSummary>('PATCH', `/api/messages/${message.id}`, { read });
    showRead([message.id], read);
    refreshUnread();
  };
  const title = conversation.data ? conversation.data.subject || t('message.noSubject') : t('thread.title');

  return (
    <section>
      <PageHeader
        title={title}
        crumbs={[
          { label: t('nav.conversations') },
          { label: t('nav.email') },
          { label: t('inbox.title'), to: '/inbox' },
          { label: t('thread.title') },
        ]}
      />
      <ErrorNotice error={conversation.error} />
      {conversation.loading && !conversation.data ? <Loading /> : null}
      {conversation.data && conversation.data.contacts.length > 0 ? (
        <p className="thread-contacts">
          {t('thread.contacts')}{' '}
          {conversation.data.contacts.map((c, i) => (
            <span key={c.id}>
              {i > 0 ? ', ' : ''}
              <Link to={`/contacts/${c.id}`}>{displayName(c)}</Link>
            </span>
          ))}
        </p>
      ) : null}
      <ol className="thread" aria-label={t('thread.messages', { count: messages.length })}>
        {messages.map((m) => (
          <li key={m.id}>
            <MessageCard
              message={m}
              highlighted={m.id === focusId}
              onToggleRead={() => toggleRead(m)}
              onReply={() => {
                setSent(null);
                setReplying(m);
              }}
            />
          </li>
        ))}
      </ol>
      {sent ? <SendResult message={sent} /> : null}
      {replying ? (
        <ComposeForm
          key={replying.id}
          heading={t('thread.replyHeading', { subject: replying.subject ?? '' })}
          initial={replyTo(replying)}
          onCancel={() => setReplying(null)}
          onSent={(message) => {
            setReplying(null);
            setSent(message);
            void conversation.reload();
          }}
        />
      ) : last ? (
        <p>
          <button
            type="button"
            className="button button-primary"
            onClick={() => {
              setSent(null);
              setReplying(last);
            }}
          >
            {t('thread.reply')}
          </button>
        </p>
      ) : null}
    </section>
  );
}

function MessageCard({
  message,
  highlighted,
  onReply,
  onToggleRead,
}: {
  message: MessageDetail;
  highlighted: boolean;
  onReply(): void;
  onToggleRead(): Promise<void>;
}) {
  const { t, dateTime, bytes } = useI18n();
  const files = message.attachments.filter((a) => !a.inline || !a.contentId);
  return (
    <article
      className={`card message-card${highlighted ? ' highlighted' : ''}`}
      aria-labelledby={`msg-${message.id}-from`}
      data-message-id={message.id}
    >
      <header className="message-header">
        <div>
          <p id={`msg-${message.id}-from`} className="message-header-from">
            <strong>{addressLabel(message.from)}</strong>{' '}
            <span className={`badge ${message.direction === 'incoming' ? 'badge-info' : 'badge-neutral'}`}>
              {message.direction === 'incoming' ? t('message.received') : t('message.sentBadge')}
            </span>
            {message.bounced ? <span className="badge badge-error">{t('message.bounced')}</span> : null}
          </p>
          <p className="muted small">
            {t('message.to')} {message.to.map(addressLabel).join(', ') || '—'}
            {message.cc.length ? ` · ${t('message.cc')} ${message.cc.map(addressLabel).join(', ')}` : ''}
          </p>
        </div>
        <time dateTime={message.date} className="muted small">
          {dateTime(message.date)}
        </time>
      </header>
      {/* Issue 15 (H3): opens, clicks and replies of a tracked message. */}
      <TrackingDetails messageId={message.id} tracking={message.tracking} />
      <MessageBody message={message} />
      {files.length > 0 ? (
        <div className="attachments">
          <h3 className="small">{t('message.attachments')}</h3>
          <ul className="attachment-list">
            {files.map((a) => (
              <li key={a.id}>
                <a href={`/api/messages/${message.id}/attachments/${a.id}`} download={a.filename ?? 'attachment'}>
                  <PaperclipIcon /> {a.filename ?? t('message.unnamedAttachment')}
                </a>{' '}
                <span className="muted">({bytes(a.size)})</span>
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      <div className="message-actions">
        <button type="button" className="button button-small" onClick={onReply}>
          {t('thread.reply')}
        </button>{' '}
        <button
          type="button"
          className="button button-small button-quiet"
          onClick={() => void onToggleRead().catch(() => undefined)}
        >
          {message.read ? t('message.markUnread') : t('message.markRead')}
        </button>
      </div>
    </article>
  );
}
