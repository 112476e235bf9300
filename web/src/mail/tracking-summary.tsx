// What became of a tracked message, in words: "Opened 2× · Clicked 1× · Replied", with what machines did (image
// proxies, scanners) counted apart so nobody mistakes a security scanner for an interested buyer; and, on demand,
// the events one by one (GET /api/messages/:id/events).
import { useState } from 'react';
import { api } from '../api/client';
import type { MessageEventList, TrackingCounts } from '../api/types';
import { ErrorNotice } from '../components/common';
import { useI18n, type MessageKey } from '../i18n/i18n';

const REASON_KEYS: Record<string, MessageKey> = {
  'too-soon': 'tracking.reason.tooSoon',
  head: 'tracking.reason.head',
  'image-proxy:gmail': 'tracking.reason.imageProxy',
  'image-proxy:yahoo': 'tracking.reason.imageProxy',
  'apple-mpp': 'tracking.reason.appleMpp',
  scanner: 'tracking.reason.scanner',
  'bot-agent': 'tracking.reason.bot',
  burst: 'tracking.reason.burst',
};

function reasonLabel(t: ReturnType<typeof useI18n>['t'], reason: string | undefined): string {
  const key = reason ? REASON_KEYS[reason] : undefined;
  return key ? t(key) : t('tracking.reason.other');
}

/** The one-line summary; nothing for a message that was not tracked. */
export function TrackingSummary({ tracking }: { tracking: TrackingCounts | undefined }) {
  const { t } = useI18n();
  if (!tracking) return null;
  const parts = [
    tracking.opens > 0 ? t('tracking.opened', { count: tracking.opens }) : t('tracking.notOpened'),
    ...(tracking.clicks > 0 ? [t('tracking.clicked', { count: tracking.clicks })] : []),
    ...(tracking.replies > 0 ? [t('tracking.replied')] : []),
  ];
  const automated = tracking.automatedOpens + tracking.automatedClicks;
  return (
    <span className="tracking-summary" data-testid="tracking-summary">
      {parts.join(' · ')}
      {automated > 0 ? <span className="muted"> {t('tracking.automated', { count: automated })}</span> : null}
    </span>
  );
}

/** The summary with a button that lists the events (thread view). */
export function TrackingDetails({ messageId, tracking }: { messageId: string; tracking: TrackingCounts | undefined }) {
  const { t, dateTime } = useI18n();
  const [events, setEvents] = useState<MessageEventList | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [open, setOpen] = useState(false);
  if (!tracking) return null;
  const toggle = async () => {
    const next = !open;
    setOpen(next);
    if (!next || events) return;
    setError(null);
    try {
      setEvents(await api<MessageEventList>('GET', `/api/messages/${messageId}/events`));
    } catch (err) {
      setError(err);
    }
  };
  const automatedReasons = [
    ...new Set((events?.items ?? []).filter((e) => e.automated).map((e) => reasonLabel(t, e.reason))),
  ];
  return (
    <div className="tracking-details">
      <p className="small">
        <TrackingSummary tracking={tracking} />{' '}
        <button type="button" className="button button-small" aria-expanded={open} onClick={() => void toggle()}>
          {open ? t('tracking.hideEvents') : t('tracking.showEvents')}
        </button>
      </p>
      <ErrorNotice error={error} />
      {open && events ? (
        events.items.length === 0 ? (
          <p className="muted small">{t('tracking.noEvents')}</p>
        ) : (
          <>
            {automatedReasons.length > 0 ? (
              <p className="muted small">{t('tracking.automatedWhy', { reasons: automatedReasons.join(', ') })}</p>
            ) : null}
            <ul className="tracking-events small" aria-label={t('tracking.eventsLabel')}>
              {events.items.map((e, i) => (
                <li key={i}>
                  <time dateTime={e.at}>{dateTime(e.at)}</time> · {t(`tracking.event.${e.type}`)}
                  {e.url ? <span className="muted"> · {e.url}</span> : null}
                  {e.automated ? <span className="badge badge-neutral">{reasonLabel(t, e.reason)}</span> : null}
                </li>
              ))}
            </ul>
          </>
        )
      ) : null}
    </div>
  );
}
