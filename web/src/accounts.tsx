// The signed-in user's mailboxes, loaded once and refreshed on demand: the reconnect banner in the layout
// and the e-mail settings page read the same list, so fixing an account clears the banner at once.
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { api } from './api/client';
import type { EmailAccount, EmailAccountList } from './api/types';

export interface AccountsState {
  accounts: EmailAccount[];
  loaded: boolean;
  error: unknown;
  refresh(): Promise<EmailAccount[]>;
  /** Replaces one account in the list after the page changed it (connect, edit, delete). */
  put(account: EmailAccount): void;
  remove(id: string): void;
}

const AccountsContext = createContext<AccountsState | null>(null);

export function AccountsProvider({ children }: { children: ReactNode }) {
  const [accounts, setAccounts] = useState<EmailAccount[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const inFlight = useRef<Promise<EmailAccount[]> | null>(null);

  const refresh = useCallback(() => {
    // Polls from several places coalesce into one request.
    inFlight.current ??= api<EmailAccountList>('GET', '/api/email-accounts')
      .then((page) => {
        setAccounts(page.items);
        setLoaded(true);
        setError(undefined);
        return page.items;
      })
      .catch((err: unknown) => {
        setError(err);
        setLoaded(true);
        return [] as EmailAccount[];
      })
      .finally(() => {
        inFlight.current = null;
      });
    return inFlight.current;
  }, []);

  useEffect(() => {
    void refresh();
    // The banner must appear without a reload when a password is reset elsewhere.
    const id = window.setInterval(() => {
      if (document.visibilityState !== 'hidden') void refresh();
    }, 30_000);
    return () => window.clearInterval(id);
  }, [refresh]);

  const value = useMemo<AccountsState>(
    () => ({
      accounts,
      loaded,
      error,
      refresh,
      put: (account) =>
        setAccounts((list) =>
          list.some((a) => a.id === account.id)
            ? list.map((a) => (a.id === account.id ? account : a))
            : [...list, account],
        ),
      remove: (id) => setAccounts((list) => list.filter((a) => a.id !== id)),
    }),
    [accounts, loaded, error, refresh],
  );
  return <AccountsContext.Provider value={value}>{children}</AccountsContext.Provider>;
}

export function useAccounts(): AccountsState {
  const state = useContext(AccountsContext);
  if (!state) throw new Error('useAccounts outside AccountsProvider');
  return state;
}
