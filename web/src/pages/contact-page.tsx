// One contact: who they are, and their mail and meetings as one timeline, newest first. Meetings come from
// GET /api/contacts/:id/meetings; a server without calendar routes (404) just shows mail.
import { useState } from 'react';
import { api, isNotFound } from '../api/client';
import type {
  Contact,
  ContactErasure,
  ContactExport,
  Meeting,
  MeetingList,
  MessagePage,
  MessageSummary,
  SentMessage,
} from '../api/types';
import {
  ConfirmPanel,
  ErrorNotice,
  Loading,
  Notice,
  PageHeader,
  addressLabel,
  displayName,
  useAsync,
} from '../components/common';
import { useI18n } from '../i18n/i18n';
import { ComposeForm, SendResult } from '../mail/compose-form';
import { Link, navigate } from '../router';
import { useSession } from '../session';
import { messageLink } from './inbox-page';
import { CalendarIcon, IncomingIcon, OutgoingIcon } from '../components/icons';
import { TrackingSummary } from '../mail/tracking-summary';
import { ContactReminders } from './reminders-page';
import { ContactSequences } from '../sequences/contact-sequences';
import { ContactMailSearch } from './contact-mail-search';

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
      {contact ? <ContactDataRights contact={contact} /> : null}
      {state.data ? (
        <section aria-labelledby="timeline-title">
          <h2 id="timeline-title">{t('contact.timeline')}</h2>
          <ContactMailSearch contactId={id}>
            {!state.data.meetingsAvailable ? <p className="muted small">{t('meetings.unavailableShort')}</p> : null}
            {state.data.entries.length === 0 ? <p className="empty">{t('contact.timelineEmpty')}</p> : null}
            <ol className="timeline">
              {state.data.entries.map((entry) =>
                entry.kind === 'mail' ? (
                  <li
                    key={`m-${entry.message.id}`}
                    className={`timeline-item timeline-mail ${entry.message.direction}`}
                  >
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
          </ContactMailSearch>
        </section>
      ) : null}
    </section>
  );
}

/**
 * Data-subject rights (LGPD/GDPR, issue 19), for administrators: the organisation answers such requests. "Export data"
 * downloads everything held about the contact as JSON; "Erase contact" asks for the contact's first address to be
 * typed, then erases (the server keeps only a hash of the addresses, so the person does not come back).
 */
function ContactDataRights({ contact }: { contact: Contact }) {
  const { t } = useI18n();
  const { user } = useSession();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [confirming, setConfirming] = useState(false);
  const [typed, setTyped] = useState('');
  const [exported, setExported] = useState(false);
  if (!user.isAdmin) return null;
  const expected = contact.emails[0] ?? '';

  const exportData = async () => {
    setBusy(true);
    setError(null);
    try {
      const data = await api<ContactExport>('GET', `/api/contacts/${contact.id}/export`);
      const url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' }));
      const link = document.createElement('a');
      link.href = url;
      link.download = `contact-${contact.id}.json`;
      link.click();
      URL.revokeObjectURL(url);
      setExported(true);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const erase = async () => {
    setBusy(true);
    setError(null);
    try {
      await api<ContactErasure>('POST', `/api/contacts/${contact.id}/erase`);
      navigate('/contacts', { replace: true });
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };

  return (
    <section className="card" aria-labelledby="data-rights-title">
      <h2 id="data-rights-title">{t('contact.dataRights')}</h2>
      <p className="muted small">{t('contact.dataRightsHelp')}</p>
      <ErrorNotice error={error} />
      {exported ? <Notice kind="success">{t('contact.exported')}</Notice> : null}
      {confirming ? (
        <ConfirmPanel
          id="erase-contact"
          title={t('contact.eraseConfirmTitle')}
          text={t('contact.eraseConfirmText')}
          confirmLabel={t('contact.erase')}
          confirmClass="button-danger"
          busy={busy}
          confirmDisabled={typed.trim().toLowerCase() !== expected}
          onConfirm={() => void erase()}
          onCancel={() => {
            setConfirming(false);
            setTyped('');
          }}
        >
          <label className="field">
            <span>{t('contact.eraseTypeAddress', { address: expected })}</span>
            <input type="email" value={typed} autoComplete="off" onChange={(event) => setTyped(event.target.value)} />
          </label>
        </ConfirmPanel>
      ) : (
        <div className="form-actions">
          <button type="button" className="button" disabled={busy} onClick={() => void exportData()}>
            {t('contact.exportData')}
          </button>
          <button type="button" className="button button-danger" disabled={busy} onClick={() => setConfirming(true)}>
            {t('contact.erase')}
          </button>
        </div>
      )}
    </section>
  );
}
