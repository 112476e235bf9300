// One contact: who they are, and their mail and meetings as one timeline, newest first. Meetings come from
// GET /api/contacts/:id/meetings; a server without calendar routes (404) just shows mail.
import { useState } from 'react';
import { api, isNotFound } from '../api/client';
import type { Contact, Meeting, MeetingList, MessagePage, MessageSummary, SentMessage } from '../api/types';
import { ErrorNotice, Loading, PageHeader, addressLabel, displayName, useAsync } from '../components/common';
import { useI18n } from '../i18n/i18n';
import { ComposeForm, SendResult } from '../mail/compose-form';
import { Link } from '../router';
import { messageLink } from './inbox-page';
import { CalendarIcon, IncomingIcon, OutgoingIcon } from '../components/icons';
import { TrackingSummary } from '../mail/tracking-summary';
import { ContactReminders } from './reminders-page';
import { ContactSequences } from '../sequences/contact-sequences';

type Entry = { kind: 'mail'; at: string; message: MessageSummary } | { kind: 'meeting'; at: string; meeting: Meeting };

interface Loaded {
  contact: Contact;
  entries: Entry[];
  nextCursor: string | null;
  meetingsAvailable: boolean;
}

async function loadContact(id: string, signal: AbortSignal): Promise<Loaded> {
  const [contact, mail, meetings] = await Promise.all([
    api<Contact>('GET', `/api/contacts/${id}`, undefined, { signal }),
    api<MessagePage>('GET', `/api/contacts/${id}/messages?limit=100`, undefined, { signal }),
    api<MeetingList>('GET', `/api/contacts/${id}/meetings`, undefined, { signal }).catch((error: unknown) => {
      if (isNotFound(error)) return null;
      throw error;
    }),
  ]);
  const entries: Entry[] = [
    ...mail.items.map((message): Entry => ({ kind: 'mail', at: message.date, message })),
    ...(meetings?.items ?? []).map((meeting): Entry => ({ kind: 'meeting', at: meeting.start, meeting })),
  ].sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
  return { contact, entries, nextCursor: mail.nextCursor, meetingsAvailable: meetings !== null };
}

export function ContactPage({ id }: { id: string }) {
  const { t, dateTime } = useI18n();
  const state = useAsync((signal) => loadContact(id, signal), [id]);
  const [composing, setComposing] = useState(false);
  const [sent, setSent] = useState<SentMessage | null>(null);
  const contact = state.data?.contact;
  const title = contact ? displayName(contact) : t('contact.title');

  return (
    <section>
      <PageHeader
        title={title}
        crumbs={[{ label: t('contacts.title'), to: '/contacts' }, { label: title }]}
        actions={
          contact ? (
            <button
              type="button"
              className="button button-primary"
              onClick={() => {
                setSent(null);
                setComposing(true);
              }}
              aria-expanded={composing}
            >
              {t('contact.sendMail')}
            </button>
          ) : null
        }
      />
      <ErrorNotice error={state.error} />
      {state.loading && !state.data ? <Loading /> : null}
      {contact ? (
        <dl className="card details">
          <div>
            <dt>{t('contacts.emails')}</dt>
            <dd>
              <ul className="plain-list">
                {contact.emails.map((e) => (
                  <li key={e}>
                    <a href={`mailto:${e}`}>{e}</a>
                    {contact.bouncedEmails.includes(e) ? (
                      <span className="badge badge-error">{t('contact.bouncedAddress')}</span>
                    ) : null}
                  </li>
                ))}
              </ul>
            </dd>
          </div>
          {contact.company ? (
            <div>
              <dt>{t('contacts.company')}</dt>
              <dd>{contact.company}</dd>
            </div>
          ) : null}
          <div>
            <dt>{t('contact.source')}</dt>
            <dd>{t(`contact.source.${contact.source}`)}</dd>
          </div>
          <div>
            <dt>{t('contact.created')}</dt>
            <dd>{dateTime(contact.createdAt)}</dd>
          </div>
        </dl>
      ) : null}
      {sent ? <SendResult message={sent} /> : null}
      {composing && contact ? (
        <ComposeForm
          heading={t('contact.sendMail')}
          initial={{ to: contact.emails.slice(0, 1), contactId: contact.id }}
          onCancel={() => setComposing(false)}
          onSent={(message) => {
            setComposing(false);
            setSent(message);
            void state.reload();
          }}
        />
      ) : null}
      <ContactReminders contactId={id} />
      <ContactSequences contactId={id} />
      {state.data ? (
        <section aria-labelledby="timeline-title">
          <h2 id="timeline-title">{t('contact.timeline')}</h2>
          {!state.data.meetingsAvailable ? <p className="muted small">{t('meetings.unavailableShort')}</p> : null}
          {state.data.entries.length === 0 ? <p className="empty">{t('contact.timelineEmpty')}</p> : null}
          <ol className="timeline">
            {state.data.entries.map((entry) =>
              entry.kind === 'mail' ? (
                <li key={`m-${entry.message.id}`} className={`timeline-item timeline-mail ${entry.message.direction}`}>
                  <span className="timeline-icon">
                    {entry.message.direction === 'incoming' ? (
                      <IncomingIcon label={t('message.received')} />
                    ) : (
                      <OutgoingIcon label={t('message.sentBadge')} />
                    )}
                  </span>
                  <div className="timeline-content">
                    <Link to={messageLink(entry.message)} className="timeline-title">
                      {entry.message.subject || t('message.noSubject')}
                    </Link>
                    <p className="muted small">
                      {entry.message.direction === 'incoming'
                        ? t('contact.mailFrom', { from: addressLabel(entry.message.from) })
                        : t('contact.mailTo', { to: entry.message.to.map(addressLabel).join(', ') })}
                      {entry.message.bounced ? ` · ${t('message.bounced')}` : ''}
                      {entry.message.tracking ? ' · ' : null}
                      <TrackingSummary tracking={entry.message.tracking} />
                    </p>
                    {entry.message.snippet ? <p className="timeline-snippet">{entry.message.snippet}</p> : null}
                  </div>
                  <time dateTime={entry.at} className="muted small">
                    {dateTime(entry.at)}
                  </time>
                </li>
              ) : (
                <li key={`e-${entry.meeting.id}`} className="timeline-item timeline-meeting">
                  <span className="timeline-icon">
                    <CalendarIcon label={t('meetings.meeting')} />
                  </span>
                  <div className="timeline-content">
                    <span className="timeline-title">{entry.meeting.title || t('meetings.untitled')}</span>
                    <p className="muted small">
                      {entry.meeting.location ? `${entry.meeting.location} · ` : ''}
                      {entry.meeting.attendees.map((a) => a.name || a.address).join(', ')}
                    </p>
                  </div>
                  <time dateTime={entry.at} className="muted small">
                    {dateTime(entry.at)}
                  </time>
                </li>
              ),
            )}
          </ol>
        </section>
      ) : null}
    </section>
  );
}
