// Per-user settings (automatic contact creation, interface language) and the organisation's plan.
import { notFound } from '../core/app-error.js';
import type { Db } from '../storage/database.js';
import type { Plan } from '../storage/schema.js';

export type Locale = 'en' | 'pt-BR';

export interface UserSettings {
  autoCreateContacts: boolean;
  locale: Locale;
  /** Addresses and domains whose mail is never stored (entries as the user wrote them, lower-cased). */
  neverLog: string[];
  /** Open and click tracking of mail this user sends, when a message asks for it (issue 15); off by default. */
  trackingEnabled: boolean;
}

export async function getUserSettings(db: Db, userId: string): Promise<UserSettings> {
  const row = await db
    .selectFrom('user_settings')
    .select(['auto_create_contacts', 'locale', 'never_log_json', 'tracking_enabled'])
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return {
    autoCreateContacts: row?.auto_create_contacts === 1,
    locale: row?.locale === 'pt-BR' ? 'pt-BR' : 'en',
    neverLog: JSON.parse(row?.never_log_json ?? '[]') as string[],
    trackingEnabled: row?.tracking_enabled === 1,
  };
}

export async function updateUserSettings(db: Db, userId: string, patch: Partial<UserSettings>): Promise<UserSettings> {
  const next = { ...(await getUserSettings(db, userId)), ...patch };
  next.neverLog = [...new Set(next.neverLog.map((e) => e.trim().toLowerCase()).filter(Boolean))];
  const values = {
    auto_create_contacts: next.autoCreateContacts ? 1 : 0,
    locale: next.locale,
    never_log_json: JSON.stringify(next.neverLog),
    tracking_enabled: next.trackingEnabled ? 1 : 0,
    updated_at: Date.now(),
  };
  await db
    .insertInto('user_settings')
    .values({ user_id: userId, ...values })
    .onConflict((oc) => oc.column('user_id').doUpdateSet(values))
    .execute();
  return next;
}

export interface Org {
  id: string;
  name: string;
  plan: Plan;
}

export async function getOrg(db: Db, orgId: string): Promise<Org> {
  const row = await db.selectFrom('orgs').select(['id', 'name', 'plan']).where('id', '=', orgId).executeTakeFirst();
  if (!row) throw notFound('Organisation');
  return row;
}

export async function setOrgPlan(db: Db, orgId: string, plan: Plan): Promise<Org> {
  await db.updateTable('orgs').set({ plan, updated_at: Date.now() }).where('id', '=', orgId).execute();
  return getOrg(db, orgId);
}
