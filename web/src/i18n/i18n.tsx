// The interface language: English or Brazilian Portuguese, chosen by the user's setting (/api/me/settings),
// else by the browser's languages. Every string the app shows goes through t(); the Portuguese dictionary
// is typed against the English one, so a missing translation fails the build.
import { createContext, useContext, useMemo, type ReactNode } from 'react';
import type { Locale } from '../api/types';
import { en, type MessageKey } from './messages-en';
import { ptBR } from './messages-pt-br';
import { renderServerText, type ServerTextParams } from './server-text';

export type { MessageKey };

const dictionaries: Record<Locale, Record<MessageKey, string>> = { en, 'pt-BR': ptBR };

/** The browser's preference: any Portuguese first choice gets pt-BR (the only Portuguese we have). */
export function browserLocale(languages: readonly string[] = navigator.languages ?? [navigator.language]): Locale {
  for (const language of languages) {
    const lower = language.toLowerCase();
    if (lower.startsWith('pt')) return 'pt-BR';
    if (lower.startsWith('en')) return 'en';
  }
  return 'en';
}

const CHOSEN_KEY = 'conversa.localeChosen';

/**
 * The locale to use for a signed-in user. The API has no "unset" value (a new user reads 'en'), so an 'en'
 * counts as the user's choice only once they picked it in Settings in this browser; until then the browser's
 * language decides. 'pt-BR' is always a choice.
 */
export function effectiveLocale(setting: Locale): Locale {
  if (setting === 'pt-BR') return 'pt-BR';
  try {
    if (window.localStorage.getItem(CHOSEN_KEY) === 'en') return 'en';
  } catch {
    // Storage refused (private mode): fall back to the browser.
  }
  return browserLocale();
}

export function rememberLocaleChoice(locale: Locale): void {
  try {
    window.localStorage.setItem(CHOSEN_KEY, locale);
  } catch {
    // Not fatal: the server keeps the setting.
  }
}

export type Vars = Record<string, string | number>;

export interface I18n {
  locale: Locale;
  t(key: MessageKey, vars?: Vars): string;
  /**
   * A sentence the server wrote, in the user's language from its code and parameters (server-text.ts); the
   * server's English when the code is unknown or absent.
   */
  serverText(
    code: string | null | undefined,
    params: ServerTextParams | null | undefined,
    fallbackEnglish: string,
  ): string;
  /** A date and time in the user's language, e.g. "3 Jan 2026, 14:05". */
  dateTime(value: string | number | Date): string;
  date(value: string | number | Date): string;
  time(value: string | number | Date): string;
  /** "today 14:05", or a date for older mail. */
  shortDate(value: string | number | Date): string;
  number(value: number): string;
  bytes(size: number): string;
}

export function translate(locale: Locale, key: MessageKey, vars?: Vars): string {
  const template = dictionaries[locale][key] ?? en[key] ?? key;
  if (!vars) return template;
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in vars ? String(vars[name]) : whole));
}

export function makeI18n(locale: Locale): I18n {
  const dateTimeFormat = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' });
  const dateFormat = new Intl.DateTimeFormat(locale, { dateStyle: 'medium' });
  const timeFormat = new Intl.DateTimeFormat(locale, { timeStyle: 'short' });
  const numberFormat = new Intl.NumberFormat(locale);
  return {
    locale,
    t: (key, vars) => translate(locale, key, vars),
    serverText: (code, params, fallbackEnglish) =>
      renderServerText(locale, code, params, fallbackEnglish, {
        dateTime: (iso) => dateTimeFormat.format(new Date(iso)),
      }),
    dateTime: (value) => dateTimeFormat.format(new Date(value)),
    date: (value) => dateFormat.format(new Date(value)),
    time: (value) => timeFormat.format(new Date(value)),
    shortDate: (value) => {
      const when = new Date(value);
      const now = new Date();
      return when.toDateString() === now.toDateString() ? timeFormat.format(when) : dateFormat.format(when);
    },
    number: (value) => numberFormat.format(value),
    bytes: (size) => {
      if (size < 1024) return `${numberFormat.format(size)} B`;
      if (size < 1024 * 1024) return `${numberFormat.format(Math.round(size / 102.4) / 10)} KB`;
      return `${numberFormat.format(Math.round(size / (1024 * 102.4)) / 10)} MB`;
    },
  };
}

const I18nContext = createContext<I18n>(makeI18n('en'));

export function I18nProvider({ locale, children }: { locale: Locale; children: ReactNode }) {
  const value = useMemo(() => makeI18n(locale), [locale]);
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

export function useI18n(): I18n {
  return useContext(I18nContext);
}
