// Every code the server can answer with has words in both languages of the web app, and a server text is said
// right: the error codes (AppError, through the error handler's STATUS table — the runtime list tsc keeps complete),
// the server text codes (status details, last errors, send failures, deliverability fixes), and the codes other
// parts of issue 15 add (MERGE_FIELD_MISSING, SEND_STARTED, TRACKING_OFF). The schema's code lists must equal the
// producers' `as const` lists, and a translation must use the same placeholders as the English.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { paramsFromJson, paramsToJson } from '../../src/core/server-text.js';
import { STATUS } from '../../src/http/error-handler.js';
import * as schemas from '../../src/http/api-schemas.js';
import { IMPORT_TEXT_CODES } from '../../src/contacts/import-texts.js';
import { MAIL_HINT_CODES, MAIL_TEXT_CODES } from '../../src/mail/connection/mail-errors.js';
import { CALENDAR_TEXT_CODES, SYNC_TEXT_CODES } from '../../src/mail/accounts/account-status.js';
import { SEND_TEXT_CODES, SENT_COPY_TEXT_CODES } from '../../src/mail/send/send-texts.js';
import { DELIVERABILITY_TEXT_CODES } from '../../src/mail/send/deliverability-texts.js';

type Dictionary = Record<string, string>;
type Render = (
  locale: 'en' | 'pt-BR',
  code: string | null | undefined,
  params: Record<string, string | number> | null | undefined,
  fallbackEnglish: string,
  options?: { dateTime?: (iso: string) => string },
) => string;

// The web app's modules, imported at run time: they are built with the web's own TypeScript settings, not the server's.
const web = (file: string) => pathToFileURL(path.resolve(__dirname, '../../web/src', file)).href;
let en: Dictionary;
let ptBR: Dictionary;
let render: Render;

beforeAll(async () => {
  en = ((await import(web('i18n/messages-en.ts'))) as { en: Dictionary }).en;
  ptBR = ((await import(web('i18n/messages-pt-br.ts'))) as { ptBR: Dictionary }).ptBR;
  render = ((await import(web('i18n/server-text.ts'))) as { renderServerText: Render }).renderServerText;
});

const PARALLEL_CODES = ['MERGE_FIELD_MISSING', 'SEND_STARTED', 'TRACKING_OFF'];

function placeholders(text: string): string[] {
  return [...text.matchAll(/\{(\w+(?:\.\w+)?)\}/g)].map((m) => m[1]!).sort();
}

describe('the dictionaries', () => {
  it('have a text for every error code in English and Brazilian Portuguese', () => {
    const codes = [...Object.keys(STATUS), ...PARALLEL_CODES];
    expect(codes.length).toBeGreaterThan(20);
    const missing = codes.flatMap((code) =>
      [en[`error.${code}`] ? null : `en error.${code}`, ptBR[`error.${code}`] ? null : `pt-BR error.${code}`].filter(
        Boolean,
      ),
    );
    expect(missing).toEqual([]);
  });

  it('have a text for every server text code in both languages, with the same placeholders', () => {
    const missing: string[] = [];
    for (const code of schemas.serverTextCodes) {
      const english = en[`server.${code}`];
      const portuguese = ptBR[`server.${code}`];
      if (!english) missing.push(`en server.${code}`);
      if (!portuguese) missing.push(`pt-BR server.${code}`);
      if (english && portuguese) expect(placeholders(portuguese), code).toEqual(placeholders(english));
    }
    expect(missing).toEqual([]);
  });

  it('keep no text for a code that no longer exists', () => {
    const known = new Set<string>(schemas.serverTextCodes);
    const stale = Object.keys(en).filter(
      (key) =>
        key.startsWith('server.') &&
        !key.startsWith('server.param.') &&
        !key.startsWith('server.suffix.') &&
        !known.has(key.slice('server.'.length)),
    );
    expect(stale).toEqual([]);
  });

  it('have the words every {word.param} placeholder needs', () => {
    for (const [key, text] of Object.entries(en)) {
      if (!key.startsWith('server.')) continue;
      for (const placeholder of placeholders(text).filter((p) => p.includes('.'))) {
        const word = placeholder.split('.')[0]!;
        for (const value of ['imap', 'smtp']) {
          expect(en[`server.param.${word}.${value}`], `${key} ${placeholder}`).toBeTruthy();
          expect(ptBR[`server.param.${word}.${value}`], `${key} ${placeholder}`).toBeTruthy();
        }
      }
    }
  });
});

describe('the code lists', () => {
  it('in the response schemas are the producers’ lists', () => {
    expect(schemas.importTextCodes).toEqual(IMPORT_TEXT_CODES);
    expect(schemas.mailTextCodes).toEqual(MAIL_TEXT_CODES);
    expect(schemas.mailHintCodes).toEqual(MAIL_HINT_CODES);
    expect(schemas.syncTextCodes).toEqual(SYNC_TEXT_CODES);
    expect(schemas.calendarTextCodes).toEqual(CALENDAR_TEXT_CODES);
    expect(schemas.sendTextCodes).toEqual(SEND_TEXT_CODES);
    expect(schemas.sentCopyTextCodes).toEqual(SENT_COPY_TEXT_CODES);
    expect(schemas.deliverabilityTextCodes).toEqual(DELIVERABILITY_TEXT_CODES);
    expect(new Set(schemas.serverTextCodes).size).toBe(schemas.serverTextCodes.length);
  });
});

describe('serverText', () => {
  const refused = { server: 'imap', host: 'imap.example.com', port: 993, address: 'imap.example.com:993' };

  it('says a connection failure in Portuguese with its server and address', () => {
    expect(render('pt-BR', 'MAIL_AUTH_REFUSED', refused, 'English')).toBe(
      'O servidor de recebimento (IMAP) imap.example.com:993 recusou o login: o usuário ou a senha não foram aceitos. ' +
        'Verifique o usuário (geralmente o seu endereço de e-mail completo) e a senha.',
    );
    expect(render('en', 'MAIL_TLS_REQUIRED', { server: 'smtp' }, 'English')).toBe(
      'The sending (SMTP) server does not accept a sign-in over an unencrypted connection. Turn SSL/TLS on ' +
        '(SMTP normally uses port 465 with SSL/TLS on, or port 587 with SSL/TLS off (STARTTLS)).',
    );
  });

  it("keeps the other server's words exactly as they are, after the text", () => {
    expect(render('en', 'SEND_REJECTED', { reply: '550  5.1.1 <a@b.test> : no ( ) such user .' }, 'x')).toBe(
      'The sending server refused the message. The server said: “550  5.1.1 <a@b.test> : no ( ) such user .”',
    );
    expect(render('pt-BR', 'SEND_REJECTED', { reply: '550 5.1.1 user unknown' }, 'English')).toBe(
      'O servidor de envio recusou a mensagem. O servidor respondeu: “550 5.1.1 user unknown”',
    );
    expect(
      render('en', 'MAIL_CONNECT_TIMEOUT', { server: 'smtp', attempts: 5 }, 'English').endsWith(
        'Conversa gave up after 5 attempts.',
      ),
    ).toBe(true);
  });

  it('says a text inside another (a DKIM set-up, a reason) with the same parameters', () => {
    const params = {
      recordName: 'google._domainkey.acme.example',
      setup: 'DELIV_DKIM_SETUP_GOOGLE',
      domain: 'acme.example',
    };
    const text = render('pt-BR', 'DELIV_DKIM_MISSING', params, 'English');
    expect(text).toContain('Nenhuma chave DKIM está publicada em google._domainkey.acme.example.');
    expect(text).toContain('gere uma chave para acme.example');
    expect(render('en', 'DELIV_SPF_BROKEN', { domain: 'a.example', reason: 'DELIV_SPF_TOO_MANY_LOOKUPS' }, 'x')).toBe(
      'The SPF record of a.example has an error, so receivers ignore it: checking it takes more than 10 DNS lookups ' +
        '(every include:, a, mx, ptr, exists and redirect counts); remove the includes you no longer use.',
    );
  });

  it('shows the English for an unknown or absent code, and a next try in the given format', () => {
    expect(render('pt-BR', 'FROM_A_NEWER_VERSION', {}, 'The English words')).toBe('The English words');
    expect(render('pt-BR', null, null, 'Older row')).toBe('Older row');
    expect(render('pt-BR', 'constructor', {}, 'No prototype keys')).toBe('No prototype keys');
    expect(
      render('pt-BR', 'CALENDAR_FAILED', { reason: 'HTTP 503', nextTryAt: '2026-12-04T10:00:00.000Z' }, 'x', {
        dateTime: () => '4 de dez., 07:00',
      }),
    ).toBe('Não foi possível sincronizar a agenda: HTTP 503 (nova tentativa em 4 de dez., 07:00)');
  });

  it('never reads a hostile parameter as a text code or a template', () => {
    // A server reply or a host that looks like a code (or a placeholder) is shown as it is, once.
    expect(render('en', 'SEND_REJECTED', { reply: 'SYNC_FAILED {reply}' }, 'x')).toBe(
      'The sending server refused the message. The server said: “SYNC_FAILED {reply}”',
    );
    expect(render('en', 'SYNC_HOST_NOT_ALLOWED', { host: 'MAIL_UNEXPECTED' }, 'x')).toContain(
      'The server MAIL_UNEXPECTED is on an address',
    );
    expect(render('en', 'SYNC_HOST_NOT_ALLOWED', { host: '__proto__' }, 'x')).toContain('The server __proto__ is');
  });
});

describe('stored parameters', () => {
  it('round-trip strings and numbers, and read broken or hostile JSON as none', () => {
    expect(paramsFromJson(paramsToJson({ host: 'imap.example.com', port: 993 }))).toEqual({
      host: 'imap.example.com',
      port: 993,
    });
    expect(paramsToJson({})).toBeNull();
    expect(paramsFromJson(null)).toEqual({});
    expect(paramsFromJson('{not json')).toEqual({});
    expect(paramsFromJson('[1,2]')).toEqual({});
    // Only strings and numbers survive; an object (even under __proto__) is dropped, nothing is polluted.
    const read = paramsFromJson('{"a":{"b":1},"c":"x","__proto__":{"polluted":1},"d":true}');
    expect(read).toEqual({ c: 'x' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
