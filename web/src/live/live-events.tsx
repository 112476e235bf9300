// The live inbox in the browser: one EventSource per tab (GET /api/live, with the session cookie), shared by every
// page through a context. The browser reconnects by itself after a dropped connection (sending Last-Event-ID); when
// the server refused the stream (signed out, too many tabs) it is opened again after a pause, resuming from the
// last event seen. Pages subscribe to the event types they show and refetch; the unread count of the navigation
// is refetched on the events that change it.
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { api } from '../api/client';
import type { LiveEventMessage, UnreadCount } from '../api/types';

export type LiveEventType = LiveEventMessage['type'];
export type LiveListener = (event: LiveEventMessage) => void;

const TYPES: LiveEventType[] = ['message.new', 'messages.bulk', 'message.read', 'reminder.due', 'tracking.event'];
/** Events that change what the unread count is. */
const UNREAD_TYPES: LiveEventType[] = ['message.new', 'messages.bulk', 'message.read'];
/** After the server refused the stream: first retry, then doubling up to the cap. */
const RETRY_MS = 5_000;
const RETRY_MAX_MS = 60_000;

interface Live {
  subscribe(listener: LiveListener): () => void;
  /** Messages of the inbox unread for the user; null until known. */
  unread: number | null;
  refreshUnread(): void;
}

const LiveContext = createContext<Live | null>(null);

export function LiveProvider({ children }: { children: ReactNode }) {
  const listeners = useRef(new Set<LiveListener>());
  const [unread, setUnread] = useState<number | null>(null);
  const unreadTimer = useRef<number | null>(null);

  const refreshUnread = useCallback(() => {
    // A burst of events (a sync storing many mails) makes one request.
    if (unreadTimer.current !== null) window.clearTimeout(unreadTimer.current);
    unreadTimer.current = window.setTimeout(() => {
      unreadTimer.current = null;
      api<UnreadCount>('GET', '/api/inbox/unread-count')
        .then((answer) => setUnread(answer.unread))
        .catch(() => undefined);
    }, 250);
  }, []);

  useEffect(() => {
    if (typeof EventSource === 'undefined') return;
    let source: EventSource | null = null;
    let lastId: string | null = null;
    let retryTimer: number | null = null;
    let delay = RETRY_MS;
    let stopped = false;

    const onEvent = (raw: MessageEvent<string>) => {
      let event: LiveEventMessage;
      try {
        event = JSON.parse(raw.data) as LiveEventMessage;
      } catch {
        return;
      }
      lastId = raw.lastEventId || event.id;
      delay = RETRY_MS;
      if (UNREAD_TYPES.includes(event.type)) refreshUnread();
      for (const listener of [...listeners.current]) listener(event);
    };

    const open = () => {
      if (stopped) return;
      const url = lastId ? `/api/live?lastEventId=${encodeURIComponent(lastId)}` : '/api/live';
      const es = new EventSource(url, { withCredentials: true });
      source = es;
      for (const type of TYPES) es.addEventListener(type, onEvent as EventListener);
      es.onopen = () => {
        delay = RETRY_MS;
        // Whatever happened while disconnected: the count is fetched again.
        refreshUnread();
      };
      es.onerror = () => {
        // CONNECTING: the browser retries by itself. CLOSED: the server refused; try again later ourselves.
        if (es.readyState !== EventSource.CLOSED || stopped) return;
        es.close();
        retryTimer = window.setTimeout(open, delay);
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      };
    };

    open();
    refreshUnread();
    const onFocus = () => refreshUnread();
    window.addEventListener('focus', onFocus);
    return () => {
      stopped = true;
      window.removeEventListener('focus', onFocus);
      if (retryTimer !== null) window.clearTimeout(retryTimer);
      if (unreadTimer.current !== null) window.clearTimeout(unreadTimer.current);
      source?.close();
    };
  }, [refreshUnread]);

  const subscribe = useCallback((listener: LiveListener) => {
    listeners.current.add(listener);
    return () => {
      listeners.current.delete(listener);
    };
  }, []);

  const value = useMemo<Live>(() => ({ subscribe, unread, refreshUnread }), [subscribe, unread, refreshUnread]);
  return <LiveContext.Provider value={value}>{children}</LiveContext.Provider>;
}

/** A page's handler for some live event types (the latest handler is called; no resubscribing per render). */
export function useLiveEvents(types: LiveEventType[], handler: LiveListener): void {
  const live = useContext(LiveContext);
  const saved = useRef(handler);
  saved.current = handler;
  const key = types.join(',');
  useEffect(() => {
    if (!live) return;
    const wanted = key.split(',');
    return live.subscribe((event) => {
      if (wanted.includes(event.type)) saved.current(event);
    });
  }, [live, key]);
}

/** The unread count of the inbox and a way to refetch it (after marking mail read). */
export function useUnreadCount(): { unread: number | null; refresh(): void } {
  const live = useContext(LiveContext);
  return { unread: live?.unread ?? null, refresh: live?.refreshUnread ?? (() => undefined) };
}

/** Calls `run` at most once per `ms` for a burst of calls (the last call wins). */
export function useDebounced(run: () => void, ms: number): () => void {
  const saved = useRef(run);
  saved.current = run;
  const timer = useRef<number | null>(null);
  useEffect(
    () => () => {
      if (timer.current !== null) window.clearTimeout(timer.current);
    },
    [],
  );
  return useCallback(() => {
    if (timer.current !== null) window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => {
      timer.current = null;
      saved.current();
    }, ms);
  }, [ms]);
}
