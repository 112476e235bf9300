// Who is signed in, their settings and their organisation, shared by every page.
import { createContext, useContext } from 'react';
import type { Org, User, UserSettings } from './api/types';

export interface Session {
  user: User;
  settings: UserSettings;
  org: Org | null;
  /** Saves settings (PATCH /api/me/settings) and applies them (the language at once). */
  updateSettings(patch: Partial<UserSettings>): Promise<UserSettings>;
  /** Saves the user's name (PATCH /api/me) and shows it everywhere. */
  updateProfile(patch: { name: string }): Promise<User>;
  signOut(): Promise<void>;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a signed-in page');
  return session;
}
