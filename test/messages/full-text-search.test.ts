// Full-text search (issue 18): `q` on GET /api/inbox and GET /api/contacts/:id/messages finds words of the subject,
// the people, attachment names and the body (text or HTML), accent- and case-insensitively, ranked, with an excerpt
// and its highlights — and never a message the caller cannot open. Mail is stored through the intake (storeMessages,
// where every path stores it), and read through a real server process, on SQLite and PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeMessage, makeMessageId } from '../support/make-message.js';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { storeIncomingMail } from '../support/store-mail.js';
import { addMailbox } from '../support/mailbox-rows.js';
import { newId } from '../../src/storage/ids.js';
import { excerpt, parseSearch, tsQuery } from '../../src/messages/search-messages.js';
import { Migrator, sql } from 'kysely';
import { migrationProvider } from '../../src/storage/migrations/index.js';
import {
  foldForSearch,
  inboxViewToken,
  indexWords,
  reindexMessages,
  VIEW_MARK,
  viewMonthToken,
  withMonthTokens,
} from '../../src/storage/search-index.js';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const corpusEml = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'shared',
  'corpus',
  'eml',
);
const corpusExists = fs.existsSync(corpusEml);

describe('search terms and excerpts', () => {
  it('folds accents and case, keeps phrases, and takes nothing as query syntax', () => {
    expect(parseSearch('Reunião "ação rápida" çedilha')).toEqual([
      { words: ['reuniao'], prefix: false },
      { words: ['acao', 'rapida'], prefix: false },
      { words: ['cedilha'], prefix: true },
    ]);
    expect(parseSearch('ana.silva@empresa.com ')).toEqual([
      { words: ['ana', 'silva', 'empresa', 'com'], prefix: false },
    ]);
    expect(parseSearch('"*:^-()" NEAR OR -- ')).toEqual([
      { words: ['near'], prefix: false },
      { words: ['or'], prefix: false },
    ]);
    expect(parseSearch('!!! ... "" ***')).toEqual([]);
  });

  it('folds mail of any script exactly as the Unicode rule does (the ASCII fast path changes nothing)', () => {
    // The rule as first written: every text folds to this, whichever path foldForSearch takes.
    const rule = (text: string) =>
      text
        .toLowerCase()
        .normalize('NFD')
        .replace(/\p{M}+/gu, '')
        .replace(/[^\p{L}\p{N}]+/gu, ' ')
        .trim();
    const texts = [
      'Plain ASCII, with CAPS & punctuation: a-b_c/d 42!',
      'Reunião de AÇÃO amanhã: orçamento nº 7 — café, pão e maçã',
      'reunia\u0303o (decomposed) and ﬁ ligature, Ǆ, ß, İstanbul, Ωμέγα, Привет мир',
      '東京で会議 (meeting), العربية, हिन्दी, 한국어, emoji 😀👍🏽 and \u200b zero width',
      'tabs\tand\r\nnew lines\u00a0nbsp\u2028sep',
      '',
      '   ',
    ];
    if (corpusExists)
      for (const file of fs.readdirSync(corpusEml).slice(0, 60))
        texts.push(
          fs.readFileSync(path.join(corpusEml, file), 'latin1'),
          fs.readFileSync(path.join(corpusEml, file), 'utf8'),
        );
    else console.warn(`[full-text-search] corpus not found at ${corpusEml}: folded only the built-in texts`);
    // Latin text folds one character at a time (foldLatin): every such character, and random runs of them.
    const latin = Array.from({ length: 0x180 }, (_, c) => String.fromCharCode(c));
    texts.push(...latin, latin.join(''), latin.reverse().join(''));
    let seed = 7;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    for (let n = 0; n < 200; n++)
      texts.push(
        Array.from({ length: 1 + Math.floor(random() * 60) }, () => latin[Math.floor(random() * 0x180)]).join(''),
      );
    for (const text of texts) expect(foldForSearch(text)).toBe(rule(text));
  });

  it("writes a typed prefix into a tsquery as the index's words it stands for, or as a prefix past 32", () => {
    const terms = parseSearch('"a proposta" plano orcam');
    expect(tsQuery(terms)).toBe('(a <-> proposta) & plano & orcam:*');
    expect(tsQuery(terms, [undefined, undefined, ['orcamento', 'orcamentos']])).toBe(
      '(a <-> proposta) & plano & (orcamento | orcamentos)',
    );
    expect(tsQuery(parseSearch('nova.orcam'), [['orcamento']])).toBe('(nova <-> orcamento)');
    // No word of the index starts with it: the prefix as an exact word, which matches nothing either.
    expect(tsQuery(parseSearch('orcaz'), [[]])).toBe('orcaz');
  });

  it('highlights in UTF-16 offsets of the excerpt, over accented text', () => {
    const text = `${'palavra '.repeat(30)}Marcamos a Reunião de ação amanhã 😀 e a reunião final.`;
    const match = excerpt(text, parseSearch('reuniao'))!;
    expect(match.snippet.length).toBeLessThanOrEqual(200);
    expect(match.snippet.startsWith('…')).toBe(true);
    expect(match.highlights.map((h) => match.snippet.slice(h.start, h.end))).toEqual(['Reunião', 'reunião']);
    const decomposed = excerpt('uma reunia\u0303o breve', parseSearch('reunião'))!;
    expect(decomposed.highlights.map((h) => decomposed.snippet.slice(h.start, h.end))).toEqual(['reunia\u0303o']);
    expect(excerpt('nothing here', parseSearch('reuniao'))).toBeNull();
  });

  it('excerpts a long mail around its first hit, every hit of the excerpt highlighted, a phrase across words', () => {
    const filler = 'texto comum sem nada '.repeat(5_000);
    const text = `${filler}a proposta de orçamento segue; o Orçamento final e a proposta de orçamento. ${filler} orçamento`;
    const word = excerpt(text, parseSearch('orcamento'))!;
    expect(word.highlights.map((h) => word.snippet.slice(h.start, h.end))).toEqual([
      'orçamento',
      'Orçamento',
      'orçamento',
    ]);
    const phrase = excerpt(text, parseSearch('"proposta de orcamento" final'))!;
    expect(phrase.highlights.map((h) => phrase.snippet.slice(h.start, h.end))).toEqual([
      'proposta de orçamento',
      'final',
      'proposta de orçamento',
    ]);
    // Found only at the very end of the mail: still found.
    const late = excerpt(`${filler} o fim`, parseSearch('fim'))!;
    expect(late.highlights.map((h) => late.snippet.slice(h.start, h.end))).toEqual(['fim']);
    expect(late.snippet.endsWith('o fim')).toBe(true);
  });

  it('reads a mail again from a word a little before its first hit: the lead and hits are those of the whole', () => {
    // "comercial" alone is found first (read with the phrase's last word); the excerpt starts ~60 characters before
    // the phrase, at a word, with "…" for what is cut off, and the phrase is highlighted whole.
    const text = `${'palavra '.repeat(40)}proposta   comercial fim`;
    const match = excerpt(text, parseSearch('comercial "proposta comercial"'))!;
    expect(match.snippet).toBe(`…${'palavra '.repeat(7)}proposta comercial fim`);
    expect(match.highlights.map((h) => match.snippet.slice(h.start, h.end))).toEqual(['proposta comercial']);
    // The text is read again from a word's start: cut at the "f" of "aaaafim", it would find "fim" there.
    const tail = excerpt(`${'palavra '.repeat(20)}aaaafim ${'b '.repeat(29)}fim`, parseSearch('fim'))!;
    expect(tail.snippet).toBe(`…${'b '.repeat(29)}fim`);
    expect(tail.highlights).toEqual([{ start: 59, end: 62 }]);
  });

  it('collapses whitespace in an excerpt cut from a long mail, and ends it with "…" only when the mail goes on', () => {
    // Runs of spaces, tabs, no-break spaces and line breaks around and after the hit: the excerpt is read from a cut
    // of the mail, and the cut must still reach every hit the excerpt shows and the text after it.
    const gaps = [' '.repeat(12), '\n\n\t'.repeat(5), '\u00a0 \u3000'.repeat(4), ' '];
    const words = Array.from({ length: 400 }, (_, i) => `p${i}${gaps[i % gaps.length]}`).join('');
    const text = `início\n\n   ${words}Reunião   marcada\n\n\n\nreunião    ${words}fim`;
    const match = excerpt(text, parseSearch('reuniao'))!;
    expect(match.snippet).not.toMatch(/\s\s/);
    expect(match.snippet.startsWith('…')).toBe(true);
    expect(match.snippet.endsWith('…')).toBe(true);
    expect(match.snippet.length).toBe(200);
    expect(match.highlights.map((h) => match.snippet.slice(h.start, h.end))).toEqual(['Reunião', 'reunião']);
    expect(match.snippet).toContain('Reunião marcada reunião p0 p1 p2');
    // A hit near the end: no trailing "…", the last word whole.
    const end = excerpt(`${words}   a reunião\n\n  termina aqui \t `, parseSearch('reuniao'))!;
    expect(end.snippet.endsWith('a reunião termina aqui')).toBe(true);
  });
});

describe.each(DIALECTS)('full-text search on %s', (dialect) => {
  let conversa: TestConversa;
  let database: TestDatabase;
  let orgId: string;
  let owner: { id: string; token: string };
  let other: { id: string; token: string };
  let ownerBox: string;
  let otherPrivateBox: string;
  let contactId: string;
  const client = `cliente-${Date.now()}@comprador.test`;

  beforeAll(async () => {
    database = await createTestDatabase(dialect, { migrate: false });
    conversa = await startTestConversa({}, database);
    owner = await conversa.addUser();
    other = await conversa.addUser();
    const db = conversa.server.storage.db;
    orgId = (await db.selectFrom('users').select('org_id').where('id', '=', owner.id).executeTakeFirstOrThrow()).org_id;
    ownerBox = await mailbox(owner.id, 'shared');
    otherPrivateBox = await mailbox(other.id, 'private');
    const res = await conversa.api('POST', '/api/contacts', { emails: [client] });
    expect(res.status, res.text).toBe(201);
    contactId = res.body.id;
  });
  afterAll(async () => {
    await conversa?.stop();
    await database?.destroy();
  });

  /** A mailbox row of its own (no server behind it: nothing here syncs). */
  function mailbox(userId: string, visibility: 'shared' | 'private'): Promise<string> {
    return addMailbox(
      conversa.server.storage.db,
      orgId,
      { id: userId },
      `${newId()}@mailbox.test`,
      visibility === 'shared',
      {
        status: 'needs_reconnect',
      },
    );
  }

  /** Stores raw messages as the mailbox's incoming mail, one batch, the way sync and sends do. */
  function deliver(accountId: string, raws: string[]): Promise<string[]> {
    return storeIncomingMail(conversa.server.storage.db, conversa.server.blobs, accountId, raws);
  }

  function mail(subject: string, body: string, extra: { date?: Date } = {}) {
    return makeMessage({ from: `Cliente <${client}>`, to: ['me@mailbox.test'], subject, body, ...extra });
  }

  /** A mail from the client whose body is `lines` under the given top-level headers. */
  function rawMail(subject: string, contentType: string, lines: string[]): string {
    return [
      `From: ${client}`,
      'To: me@mailbox.test',
      `Subject: ${subject}`,
      `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
      `Message-ID: ${makeMessageId()}`,
      'MIME-Version: 1.0',
      `Content-Type: ${contentType}`,
      ...lines,
      '',
    ].join('\r\n');
  }

  function htmlMail(subject: string, html: string): string {
    return rawMail(subject, 'text/html; charset=utf-8', ['Content-Transfer-Encoding: 8bit', '', html]);
  }

  async function search(q: string, token = owner.token, route = '/api/inbox', cursor?: string) {
    const params = new URLSearchParams({ q, ...(cursor ? { cursor } : {}) });
    return conversa.api('GET', `${route}?${params}`, undefined, token);
  }

  /** Every item of the owner's inbox search `q`, page after page of `limit` (at most 10 pages). */
  async function allPages(q: string, limit: number): Promise<Array<{ id: string; subject: string }>> {
    const seen: Array<{ id: string; subject: string }> = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const params = new URLSearchParams({ q, limit: String(limit), ...(cursor ? { cursor } : {}) });
      const res = await conversa.api('GET', `/api/inbox?${params}`, undefined, owner.token);
      expect(res.status, res.text).toBe(200);
      seen.push(...res.body.items);
      cursor = res.body.nextCursor ?? undefined;
      if (!cursor) break;
    }
    return seen;
  }

  async function subjects(q: string, token = owner.token, route = '/api/inbox'): Promise<string[]> {
    const res = await search(q, token, route);
    expect(res.status, res.text).toBe(200);
    return res.body.items.map((m: { subject: string }) => m.subject);
  }

  it('finds accented words unaccented and unaccented words accented, in any case', async () => {
    await deliver(ownerBox, [
      mail('Pauta A1', 'Confirmo a reunião de terça e a AÇÃO combinada.'),
      mail('Pauta A2', 'Vamos marcar uma reuniao e uma acao; preço em CAÇAPAVA.'),
    ]);
    for (const q of ['reunião', 'reuniao', 'REUNIAO', 'Reunião', 'ação', 'acao', 'AcAo'])
      expect((await subjects(q)).sort(), q).toEqual(['Pauta A1', 'Pauta A2']);
    expect(await subjects('Çaçapava')).toEqual(['Pauta A2']);
    expect(await subjects('cacapava')).toEqual(['Pauta A2']);
    const res = await search('reuniao');
    const a1 = res.body.items.find((m: { subject: string }) => m.subject === 'Pauta A1');
    expect(a1.match.snippet).toContain('reunião');
    expect(
      a1.match.highlights.map((h: { start: number; end: number }) => a1.match.snippet.slice(h.start, h.end)),
    ).toEqual(['reunião']);
  });

  it('takes quoted words as a phrase, and the same words apart only without quotes', async () => {
    await deliver(ownerBox, [
      mail('Frase junta', 'O contrato anual chegou assinado.'),
      mail('Frase separada', 'O anual relatório e o contrato novo.'),
    ]);
    expect(await subjects('"contrato anual"')).toEqual(['Frase junta']);
    expect((await subjects('contrato anual')).sort()).toEqual(['Frase junta', 'Frase separada']);
  });

  it('finds a word only in an attachment name, and only in an HTML body', async () => {
    await deliver(ownerBox, [
      makeMessage({
        from: client,
        to: ['me@mailbox.test'],
        subject: 'Segue anexo',
        body: 'Veja o arquivo.',
        attachment: {
          filename: 'orçamento-zebrafish.pdf',
          contentType: 'application/pdf',
          content: Buffer.from('%PDF-1.4'),
        },
      }),
      htmlMail('So HTML', '<html><head><style>.quokka{}</style></head><body><p>Olá <b>capivara</b>!</p></body></html>'),
    ]);
    const attached = await search('zebrafish orcamento');
    expect(attached.body.items.map((m: { subject: string }) => m.subject)).toEqual(['Segue anexo']);
    expect(attached.body.items[0].match.snippet).toBe('orçamento-zebrafish.pdf');
    expect(await subjects('capivara')).toEqual(['So HTML']);
    // Markup and styles are not text.
    expect(await subjects('quokka')).toEqual([]);
  });

  it('excerpts from the text body, or from the HTML one where the text is blank or missing', async () => {
    const part = (type: string, body: string) => [
      '--b',
      `Content-Type: ${type}; charset=utf-8`,
      'Content-Transfer-Encoding: 8bit',
      '',
      body,
    ];
    const alternative = (subject: string, text: string, html: string) =>
      rawMail(subject, 'multipart/alternative; boundary="b"', [
        '',
        ...part('text/plain', text),
        ...part('text/html', html),
        '--b--',
      ]);
    await deliver(ownerBox, [
      alternative('Ambos', 'Texto com jacupemba.', '<p>Outra versão com jacupemba e <b>mais</b>.</p>'),
      alternative('Texto em branco', ' \t ', '<p>Só o HTML tem jacupemba.</p>'),
      alternative('Sem letra ASCII', 'Ура жакупемба', '<p>Другое жакупемба, ещё</p>'),
      htmlMail('Só HTML', '<p>Um jacupemba no HTML.</p>'),
    ]);
    const found = await search('jacupemba');
    const snippets = Object.fromEntries(
      found.body.items.map((m: { subject: string; match: { snippet: string } }) => [m.subject, m.match.snippet]),
    );
    expect(snippets).toEqual({
      Ambos: 'Texto com jacupemba.',
      'Texto em branco': 'Só o HTML tem jacupemba.',
      'Só HTML': 'Um jacupemba no HTML.',
    });
    // A text of no ASCII letter is not blank either: its excerpt comes from it, not from the HTML beside it.
    const cyrillic = await search('жакупемба');
    expect(cyrillic.body.items.map((m: { match: { snippet: string } }) => m.match.snippet)).toEqual(['Ура жакупемба']);
  });

  it("excerpts a word found only in a person's name, and lists a found message as the inbox lists it", async () => {
    await deliver(ownerBox, [
      makeMessage({
        from: `Cliente <${client}>`,
        to: ['me@mailbox.test'],
        cc: ['Jaguatiríca Pintada <jaguatirica@fora.test>'],
        subject: 'Com cópia',
        body: 'Sem nada de especial.',
      }),
    ]);
    const found = await search('jaguatirica');
    expect(found.body.items.map((m: { subject: string }) => m.subject)).toEqual(['Com cópia']);
    const { snippet, highlights } = found.body.items[0].match;
    expect(snippet.endsWith(`>, me@mailbox.test, Jaguatiríca Pintada <jaguatirica@fora.test>`)).toBe(true);
    expect(highlights.map((h: { start: number; end: number }) => snippet.slice(h.start, h.end))).toEqual([
      'Jaguatiríca',
      'jaguatirica',
    ]);
    // The item's people, contacts and read state come with the search's page rows: the same as the inbox's.
    const listed = await conversa.api('GET', '/api/inbox?limit=100', undefined, owner.token);
    const item = listed.body.items.find((m: { id: string }) => m.id === found.body.items[0].id);
    const { match, ...summary } = found.body.items[0];
    expect(match).toBeDefined();
    expect(summary).toEqual(item);
    expect(summary.cc).toEqual([{ address: 'jaguatirica@fora.test', name: 'Jaguatiríca Pintada' }]);
    expect(summary.contactIds.length).toBe(1);
  });

  it('ranks a subject hit above a body-only hit, then newer first', async () => {
    await deliver(ownerBox, [
      mail('Nada aqui', 'Falamos do ornitorrinco ontem.', { date: new Date(Date.now() - 1_000) }),
      mail('Sobre o ornitorrinco', 'Texto qualquer.', { date: new Date(Date.now() - 60_000) }),
    ]);
    expect(await subjects('ornitorrinco')).toEqual(['Sobre o ornitorrinco', 'Nada aqui']);
  });

  it('finds what a typed prefix stands for, whether few or many words of the index start with it', async () => {
    const many = Array.from({ length: 40 }, (_, i) => `zorbax${i}`).join(' ');
    await deliver(ownerBox, [mail('Muitas', many), mail('Uma', 'A zorbalina chegou.')]);
    // Over 32 words start with "zorb": FTS5's own prefix query. One starts with "zorbal": that word, exactly.
    expect((await subjects('zorb')).sort()).toEqual(['Muitas', 'Uma']);
    expect(await subjects('zorbal')).toEqual(['Uma']);
    expect(await subjects('zorbax3')).toEqual(['Muitas']);
    expect(await subjects('zorbaq')).toEqual([]);
    // With other words before it.
    expect(await subjects('chegou zorbal')).toEqual(['Uma']);
    expect(await subjects('zorbax38 zorb')).toEqual(['Muitas']);
    expect(await subjects('chegou zorbax')).toEqual([]);
    // The vocabulary both engines expand a prefix from (past 32 words the search keeps the engine's prefix query).
    const db = conversa.server.storage.db;
    expect(await indexWords(db, 'zorb', 100)).toEqual(
      [...Array.from({ length: 40 }, (_, i) => `zorbax${i}`), 'zorbalina'].sort(),
    );
    expect(await indexWords(db, 'zorbal', 33)).toEqual(['zorbalina']);
    expect(await indexWords(db, 'zorbaq', 33)).toEqual([]);
  });

  it('finds by prefix a word that a later batch brought', async () => {
    const db = conversa.server.storage.db;
    await deliver(ownerBox, [mail('Primeiro lote', 'O tracajá nadou.')]);
    expect(await subjects('tracaj')).toEqual(['Primeiro lote']);
    await deliver(ownerBox, [mail('Segundo lote', 'O tracajatuba chegou depois.')]);
    expect(await indexWords(db, 'tracaj', 33)).toEqual(['tracaja', 'tracajatuba']);
    expect((await subjects('tracaj')).sort()).toEqual(['Primeiro lote', 'Segundo lote']);
    expect(await subjects('tracajat')).toEqual(['Segundo lote']);
    // A batch of words the index already holds adds nothing, and one repeating a word adds it once.
    await deliver(ownerBox, [
      mail('Terceiro lote', 'tracaja tracajatuba tracajatubinha'),
      mail('Quarto', 'tracajatubinha'),
    ]);
    expect(await indexWords(db, 'tracaj', 33)).toEqual(['tracaja', 'tracajatuba', 'tracajatubinha']);
  });

  it('reads the vocabulary as a range: `%`, `_` and `\\` in a prefix are characters, never a pattern', async () => {
    const db = conversa.server.storage.db;
    await deliver(ownerBox, [mail('Curinga', 'O jacurutu piou.')]);
    expect(await indexWords(db, 'jacurutu', 33)).toEqual(['jacurutu']);
    for (const prefix of ['%', '_', '\\', 'jacu%', 'jacu_utu', 'jac_', 'jacurutu\\', '%urutu', '\\%'])
      expect(await indexWords(db, prefix, 33), prefix).toEqual([]);
  });

  it('ranks a subject hit, then a people or attachment-name hit, then a body-only hit, each on its own field', async () => {
    const at = (minutes: number) => new Date(Date.now() - minutes * 60_000);
    await deliver(ownerBox, [
      // Newest first in time, but only in the body.
      mail('Corpo apenas', 'O suricato chegou.', { date: at(1) }),
      makeMessage({
        from: `Suricato Vendas <${client}>`,
        to: ['me@mailbox.test'],
        subject: 'Pessoa',
        body: 'Sem o termo.',
        date: at(2),
      }),
      makeMessage({
        from: client,
        to: ['me@mailbox.test'],
        subject: 'Anexo',
        body: 'Nada.',
        date: at(3),
        attachment: { filename: 'suricato.pdf', contentType: 'application/pdf', content: Buffer.from('%PDF-1.4') },
      }),
      mail('O suricato no assunto', 'Texto.', { date: at(4) }),
    ]);
    expect(await subjects('suricato')).toEqual(['O suricato no assunto', 'Pessoa', 'Anexo', 'Corpo apenas']);
    // A prefix while typing and a phrase rank by the same fields.
    expect(await subjects('suric')).toEqual(['O suricato no assunto', 'Pessoa', 'Anexo', 'Corpo apenas']);
    expect(await subjects('"suricato no assunto"')).toEqual(['O suricato no assunto']);
    // Two terms add up: the subject holds both words, the body-only message one.
    expect(await subjects('suricato assunto')).toEqual(['O suricato no assunto']);
  });

  it('never finds the private mail of another user, in the inbox nor on the contact timeline', async () => {
    await deliver(otherPrivateBox, [mail('Segredo do colega', 'O código secreto é jabuticaba.')]);
    await deliver(ownerBox, [mail('Minha fruta', 'Gosto de jabuticaba.')]);
    expect(await subjects('jabuticaba')).toEqual(['Minha fruta']);
    expect(await subjects('jabuticaba', owner.token, `/api/contacts/${contactId}/messages`)).toEqual(['Minha fruta']);
    expect(await subjects('segredo colega', owner.token, `/api/contacts/${contactId}/messages`)).toEqual([]);
    // The administrator (the first user) sees the shared one only, never the colleague's private mail.
    expect(await subjects('jabuticaba', conversa.token, `/api/contacts/${contactId}/messages`)).toEqual([
      'Minha fruta',
    ]);
    // The colleague's own inbox finds it.
    expect(await subjects('jabuticaba', other.token)).toEqual(['Segredo do colega']);
    // The snippet of the visible message is its own text, never the other's.
    const res = await search('jabuticaba', owner.token, `/api/contacts/${contactId}/messages`);
    expect(res.body.items[0].match.snippet).toBe('Gosto de jabuticaba.');
  });

  it("never finds a colleague's private mail that the index wrongly holds in one's inbox, and pages past it", async () => {
    // The index and the holder rows disagree (a holder row removed behind the index's back): the colleague's private
    // messages carry the owner's inbox token. The search's conditions decide, and a refused match leaves no gap.
    const db = conversa.server.storage.db;
    const hidden = await deliver(otherPrivateBox, [
      mail('Tucumã oculto um', 'O tucumã do colega.', { date: new Date(Date.now() + 60_000) }),
      mail('Tucumã oculto dois', 'Outro tucumã do colega.', { date: new Date(Date.now() + 50_000) }),
    ]);
    await deliver(ownerBox, [
      mail('Tucumã visível 1', 'Um tucumã.', { date: new Date(Date.now() + 40_000) }),
      mail('Tucumã visível 2', 'Dois tucumã.', { date: new Date(Date.now() + 30_000) }),
      mail('Tucumã visível 3', 'Três tucumã.', { date: new Date(Date.now() + 20_000) }),
    ]);
    const fake = hidden.map((messageId) => ({
      id: newId(),
      message_id: messageId,
      account_id: ownerBox,
      user_id: owner.id,
      shared: 0,
      direction: 'incoming' as const,
      date: 0,
      created_at: Date.now(),
    }));
    await db.insertInto('message_holders').values(fake).execute();
    await reindexMessages(db, hidden);
    await db
      .deleteFrom('message_holders')
      .where(
        'id',
        'in',
        fake.map((h) => h.id),
      )
      .execute();
    const token = inboxViewToken({ userId: owner.id });
    expect((await carrying(token)).filter((id) => hidden.includes(id)).sort()).toEqual([...hidden].sort());

    // Best first (subject hits, newest first): the two hidden ones, newest, would rank first; pages of one skip them.
    expect(await subjects('tucuma')).toEqual(['Tucumã visível 1', 'Tucumã visível 2', 'Tucumã visível 3']);
    const seen = await allPages('tucuma', 1);
    expect(seen.map((m) => m.subject)).toEqual(['Tucumã visível 1', 'Tucumã visível 2', 'Tucumã visível 3']);
    await reindexMessages(db, hidden);
    expect((await carrying(token)).filter((id) => hidden.includes(id))).toEqual([]);
  });

  it("ranks from each message alone: other people's private mail never changes the order", async () => {
    const base = Date.now() - 7_200_000;
    await deliver(ownerBox, [
      mail('Ordem um', 'quati quati quati mico', { date: new Date(base) }),
      mail('Ordem dois', 'quati mico mico mico', { date: new Date(base + 1_000) }),
    ]);
    const before = await subjects('quati mico');
    expect(before).toEqual(['Ordem dois', 'Ordem um']);
    // Word frequencies of the whole index (bm25's IDF) would move with these; the order must not.
    await deliver(
      otherPrivateBox,
      Array.from({ length: 40 }, (_, i) => mail(`Privada ${i}`, `mico ${i}`)),
    );
    expect(await subjects('quati mico')).toEqual(before);
    expect(await subjects('mico quati')).toEqual(before);
  });

  it('takes hostile q strings as text: syntax characters, operators, 201 characters, only punctuation', async () => {
    await deliver(ownerBox, [mail('Sintaxe', 'palavra NEAR outra AND mais OR menos NOT nunca subject: tudo')]);
    for (const q of [
      '"',
      '*',
      ':',
      '^',
      '-',
      '(',
      ')',
      '"unclosed',
      'a*b',
      'subject:sintaxe',
      'NEAR(palavra outra)',
      '-palavra',
      '^palavra',
      'palavra OR',
      'NOT',
      'AND',
      '{subject}: x',
      '\\',
      "'",
      '%',
      '_',
      '\u0000',
    ] as const) {
      const res = await search(q);
      expect(res.status, `${q}: ${res.text}`).toBe(200);
    }
    // Operators are words: "NEAR(outra" is the phrase "near outra", "OR menos" two words to find.
    expect(await subjects('NEAR(outra')).toEqual(['Sintaxe']);
    expect(await subjects('NEAR(palavra outra)')).toEqual([]);
    expect(await subjects('menos OR')).toEqual(['Sintaxe']);
    expect(await subjects('subject:sintaxe')).toEqual([]);
    expect(await subjects('-palavra')).toEqual(['Sintaxe']);
    expect(await subjects('!!! ... ---')).toEqual([]);
    expect(await subjects('"*"')).toEqual([]);
    // VALIDATION_FAILED is 400 here, as for every other invalid query (src/http/error-handler.ts).
    const long = await search('a'.repeat(201));
    expect(long.status).toBe(400);
    expect(long.body.error.code).toBe('VALIDATION_FAILED');
    const longContact = await search('a'.repeat(201), owner.token, `/api/contacts/${contactId}/messages`);
    expect(longContact.status).toBe(400);
    expect(longContact.body.error.code).toBe('VALIDATION_FAILED');
    expect((await search('x', owner.token, '/api/inbox', 'bm90LWEtY3Vyc29y')).status).toBe(400);
  });

  it('finds the last word as a prefix while typing', async () => {
    await deliver(ownerBox, [mail('Prefixo', 'Chegou a proposta comercial.')]);
    expect(await subjects('propos')).toEqual(['Prefixo']);
    expect(await subjects('propos ')).toEqual([]);
    expect(await subjects('comercial propos')).toEqual(['Prefixo']);
  });

  it('forgets a deleted or erased message', async () => {
    const db = conversa.server.storage.db;
    const [gone] = await deliver(ownerBox, [mail('Apagada', 'A palavra tamanduá some.')]);
    expect(await subjects('tamandua')).toEqual(['Apagada']);
    await db.deleteFrom('messages').where('id', '=', gone!).execute();
    expect(await subjects('tamandua')).toEqual([]);

    // Erasure: mail of the erased contact alone goes; shared mail keeps its words but not the person.
    const erased = `apagar-${Date.now()}@pessoa.test`;
    const keeper = `fica-${Date.now()}@pessoa.test`;
    const contact = (await conversa.api('POST', '/api/contacts', { firstName: 'Zuleica', emails: [erased] })).body.id;
    expect((await conversa.api('POST', '/api/contacts', { emails: [keeper] })).status).toBe(201);
    await deliver(ownerBox, [
      makeMessage({
        from: `Zuleica Pereira <${erased}>`,
        to: ['me@mailbox.test'],
        subject: 'So dela',
        body: 'capybara',
      }),
      makeMessage({
        from: `Zuleica Pereira <${erased}>`,
        to: ['me@mailbox.test'],
        cc: [keeper],
        subject: 'Com outro',
        body: 'capybara',
      }),
    ]);
    expect((await subjects('capybara')).sort()).toEqual(['Com outro', 'So dela']);
    expect((await subjects('zuleica')).sort()).toEqual(['Com outro', 'So dela']);
    const res = await conversa.api('POST', `/api/contacts/${contact}/erase`);
    expect(res.status, res.text).toBe(202);
    expect(await subjects('capybara')).toEqual(['Com outro']);
    expect(await subjects('zuleica')).toEqual([]);
    expect(await subjects(erased)).toEqual([]);
    if (dialect === 'sqlite') {
      const counts = await db
        .selectFrom('message_search_docs')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      const messages = await db
        .selectFrom('messages')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      expect(Number(counts.n)).toBe(Number(messages.n));
    }
  });

  it('pages through ranked results without duplicates', async () => {
    const base = Date.now() - 3_600_000;
    await deliver(
      ownerBox,
      Array.from({ length: 23 }, (_, i) =>
        mail(i % 3 === 0 ? `Paginado ${i} pagina` : `Paginado ${i}`, `corpo pagina numero ${i}`, {
          date: new Date(base + (i % 5) * 1000),
        }),
      ),
    );
    const seen = (await allPages('pagina', 5)).map((m) => m.id);
    expect(seen.length).toBe(23);
    expect(new Set(seen).size).toBe(23);
  });

  it('backfills mail stored before the index, and survives VACUUM (which may renumber rowids)', async () => {
    const db = conversa.server.storage.db;
    await deliver(ownerBox, [mail('Antiga', 'Uma mensagem sobre o pirarucu.'), mail('Outra antiga', 'Nada.')]);
    const migrator = new Migrator({ db, provider: migrationProvider });
    const down = await migrator.migrateTo('0022-erased-addresses');
    expect(down.error).toBeUndefined();
    const up = await migrator.migrateToLatest();
    expect(up.error).toBeUndefined();
    expect(await subjects('pirarucu')).toEqual(['Antiga']);
    expect(await subjects('jabuticaba')).toEqual(['Minha fruta']);
    // The vocabulary (a table, backfilled by its migration from the index) has the old words.
    expect(await indexWords(db, 'pirar', 33)).toEqual(['pirarucu']);
    expect(await subjects('pirar')).toEqual(['Antiga']);
    expect(await subjects('jabutic')).toEqual(['Minha fruta']);
    // The vocabulary's own migrations alone (0029 PostgreSQL, 0030 SQLite), run on a database that holds messages.
    expect((await migrator.migrateTo('0028-search-vocabulary')).error).toBeUndefined();
    expect((await migrator.migrateToLatest()).error).toBeUndefined();
    expect(await indexWords(db, 'pirar', 33)).toEqual(['pirarucu']);
    expect(await subjects('pirar')).toEqual(['Antiga']);
    // PostgreSQL's documents get their messages' dates and their ranked fields, and keep their ids in the row (0031),
    // on a database with mail; mail stored afterwards is indexed the same way by the intake.
    expect((await migrator.migrateTo('0030-search-words-sqlite')).error).toBeUndefined();
    expect((await migrator.migrateToLatest()).error).toBeUndefined();
    expect(await subjects('pirarucu')).toEqual(['Antiga']);
    await deliver(ownerBox, [mail('Depois da migração', 'O surubim chegou.')]);
    expect(await subjects('surubim')).toEqual(['Depois da migração']);
    if (dialect === 'postgres') {
      const { rows } = await sql<{ documents: string; dated: string; ranked: string; messages: string }>`select
          (select count(*) from message_search) as documents,
          (select count(*) from message_search join messages on messages.id = message_search.message_id
            where message_search.date = messages.date) as dated,
          (select count(*) from message_search
            where fields = ts_filter(doc, '{a,b}') and fields @@ to_tsquery('simple', 'mailbox:B')) as ranked,
          (select count(*) from messages) as messages`.execute(db);
      expect(Number(rows[0]!.documents)).toBeGreaterThan(3);
      const all = rows[0]!.messages;
      expect(rows[0]).toEqual({ documents: all, dated: all, ranked: all, messages: all });
      const storage = await sql<{ attstorage: string }>`select attstorage from pg_attribute
        where attrelid = 'message_search'::regclass and attname = 'message_id'`.execute(db);
      expect(storage.rows).toEqual([{ attstorage: 'p' }]);
      // 0032, on a database with mail: every view token gets its month's token; down takes them away again.
      const monthTokens = async () =>
        Number(
          (
            await sql<{ count: string }>`select count(*) from message_search
              cross join unnest(tsvector_to_array(doc)) as t
              where starts_with(t, ${VIEW_MARK}) and position('m' in t) > 0`.execute(db)
          ).rows[0]!.count,
        );
      const viewTokens = async () =>
        Number(
          (
            await sql<{ count: string }>`select count(*) from message_search
              cross join unnest(tsvector_to_array(doc)) as t
              where starts_with(t, ${VIEW_MARK}) and position('m' in t) = 0`.execute(db)
          ).rows[0]!.count,
        );
      expect((await migrator.migrateTo('0031-search-ranking')).error).toBeUndefined();
      expect(await monthTokens()).toBe(0);
      expect((await migrator.migrateToLatest()).error).toBeUndefined();
      expect(await viewTokens()).toBeGreaterThan(3);
      expect(await monthTokens()).toBe(await viewTokens());
      const [antiga] = await sql<{ id: string; date: string }>`select id, date from messages where subject = 'Antiga'`
        .execute(db)
        .then((r) => r.rows);
      const at = new Date(Number(antiga!.date));
      const month = `${at.getUTCFullYear()}${String(at.getUTCMonth() + 1).padStart(2, '0')}`;
      expect(await carrying(viewMonthToken(inboxViewToken({ userId: owner.id }), month))).toContain(antiga!.id);
      expect(await subjects('pirarucu')).toEqual(['Antiga']);
    }
    if (dialect === 'sqlite') {
      // Rowids of a table without INTEGER PRIMARY KEY may change on VACUUM; the index keys its rows by its own.
      const [first] = await deliver(ownerBox, [mail('Vacuo', 'tucunare')]);
      await db.deleteFrom('messages').where('subject', '=', 'Outra antiga').execute();
      await sql`vacuum`.execute(db);
      expect(await subjects('tucunare')).toEqual(['Vacuo']);
      expect(await subjects('pirarucu')).toEqual(['Antiga']);
      await db.deleteFrom('messages').where('id', '=', first!).execute();
      expect(await subjects('tucunare')).toEqual([]);
      expect(await subjects('pirarucu')).toEqual(['Antiga']);
    }
  });

  it('finds a word in mail of any month, newest first: this month, months and years back, ahead, far ahead', async () => {
    const month = 30 * 24 * 3600 * 1000;
    const now = Date.now();
    // Each in a span of months of its own (newestInView), the oldest beyond them all, two dated ahead.
    const ages = { far: -60 * month, ahead: -3 * month, now: 0, two: 2 * month, ten: 10 * month, twenty: 20 * month };
    const old = { forty: 40 * month, century: 100 * 12 * month };
    const dated = Object.entries({ ...ages, ...old }).map(([name, age]) => ({ name, date: new Date(now - age) }));
    await deliver(
      ownerBox,
      dated.map((d) => mail(`Tambaqui ${d.name}`, 'Sobre o tambaqui.', { date: d.date })).reverse(),
    );
    const newestFirst = [...dated].sort((a, b) => b.date.getTime() - a.date.getTime()).map((d) => `Tambaqui ${d.name}`);
    // Ranked by field (the subject for all) and then newest first; pages of 2 read every span once.
    expect(await subjects('tambaqui')).toEqual(newestFirst);
    expect((await allPages('tambaqui', 2)).map((m) => m.subject)).toEqual(newestFirst);
    expect(await inboxOf(ownerBox, 'tambaqui', owner.token)).toEqual(newestFirst);
    if (dialect === 'postgres') {
      // Each document carries its month's token beside the view token (0032): ahead by more than a year is `f`.
      const userToken = inboxViewToken({ userId: owner.id });
      const monthOf = (date: Date) => `${date.getUTCFullYear()}${String(date.getUTCMonth() + 1).padStart(2, '0')}`;
      const ids = await carrying(userToken);
      for (const d of dated) {
        const token = viewMonthToken(userToken, d.name === 'far' ? 'f' : monthOf(d.date));
        const marked = await carrying(token);
        expect(marked.filter((id) => ids.includes(id)).length, `${d.name}: ${token}`).toBeGreaterThan(0);
      }
      // Any date JavaScript can hold gets a month token, hostile ones too (before the year 1: `o`, found as old mail).
      const db = conversa.server.storage.db;
      for (const date of [-8.64e15, -62135596800001, -62135596800000, 0, Date.now(), 253402300799999, 8.64e15]) {
        const { rows } = await sql<{
          tokens: string[];
        }>`select ${withMonthTokens(sql`array['v']`, sql`${date}::bigint`)}
          as tokens`.execute(db);
        expect(rows[0]!.tokens[0]).toBe('v');
        expect(rows[0]!.tokens[1]).toMatch(/^vm(o|f|\d{6})$/);
      }
    }
  });

  /** The messages whose search document carries the view token, read from the index itself. */
  async function carrying(token: string): Promise<string[]> {
    const db = conversa.server.storage.db;
    const rows =
      dialect === 'sqlite'
        ? await sql<{ id: string }>`select message_search_docs.message_id as id from message_search_fts
            join message_search_docs on message_search_docs.doc = message_search_fts.rowid
            where message_search_fts match ${`"${token}"`}`.execute(db)
        : await sql<{ id: string }>`select message_id as id from message_search
            where doc @@ ${`'${token}'`}::tsquery`.execute(db);
    return rows.rows.map((r) => r.id);
  }

  async function inboxOf(accountId: string, q: string, token: string): Promise<string[]> {
    const res = await conversa.api('GET', `/api/inbox?${new URLSearchParams({ accountId, q })}`, undefined, token);
    expect(res.status, res.text).toBe(200);
    return res.body.items.map((m: { subject: string }) => m.subject);
  }

  it("finds mail that reached a second user's mailbox later (dedupe), and forgets a removed mailbox's", async () => {
    const later = await mailbox(other.id, 'private');
    const raw = mail('Chegou duas vezes', 'O tatupeba chegou.');
    const [id] = await deliver(ownerBox, [raw]);
    expect(await subjects('tatupeba')).toEqual(['Chegou duas vezes']);
    // The owner's mailbox is shared: the colleague may open the message, but it is not in the colleague's inbox.
    expect(await subjects('tatupeba', other.token)).toEqual([]);
    expect(await carrying(inboxViewToken({ userId: other.id }))).not.toContain(id);

    const [again] = await deliver(later, [raw]);
    expect(again).toBe(id);
    expect(await subjects('tatupeba', other.token)).toEqual(['Chegou duas vezes']);
    expect(await subjects('"tatupeba chegou"', other.token)).toEqual(['Chegou duas vezes']);
    expect(await subjects('tatup', other.token)).toEqual(['Chegou duas vezes']);
    expect(await carrying(inboxViewToken({ accountId: later }))).toEqual([id]);
    // The one-mailbox filter with q: that mailbox's mail only.
    expect(await inboxOf(later, 'tatupeba', other.token)).toEqual(['Chegou duas vezes']);
    expect(await inboxOf(otherPrivateBox, 'tatupeba', other.token)).toEqual([]);
    expect(await inboxOf(ownerBox, 'tatupeba', owner.token)).toEqual(['Chegou duas vezes']);
    // Someone else's mailbox id is not a way into its mail.
    expect(await inboxOf(ownerBox, 'tatupeba', other.token)).toEqual([]);

    const res = await conversa.api('DELETE', `/api/email-accounts/${later}`, undefined, other.token);
    expect(res.status, res.text).toBe(204);
    expect(await subjects('tatupeba', other.token)).toEqual([]);
    expect(await subjects('tatupeba')).toEqual(['Chegou duas vezes']);
    // The removed mailbox's tokens may stay in the index (reindexing a year of a mailbox's mail in the DELETE would
    // cost more than they do): a token only narrows, and the inbox condition the search keeps drops the message.
    expect(await carrying(inboxViewToken({ userId: owner.id }))).toContain(id);
    expect(await subjects('"tatupeba chegou"', other.token)).toEqual([]);
  });

  it('finds nothing by typing a view token, and finds its text where a message holds it', async () => {
    const [id] = await deliver(ownerBox, [mail('Com token', 'Nada de especial.')]);
    const token = inboxViewToken({ userId: owner.id });
    expect(await carrying(token)).toContain(id);
    const text = token.slice(1);
    for (const q of [token, text, `"${text}"`, text.slice(0, 8), `${text} especial`, `\uE000${text}`])
      expect(await subjects(q), q).toEqual([]);
    // No view token is a word of the vocabulary a prefix expands from.
    const db = conversa.server.storage.db;
    expect(await indexWords(db, '\uE000', 33)).toEqual([]);
    expect(await indexWords(db, token, 33)).toEqual([]);
    const { rows } = await sql<{ n: number | string }>`select count(*) as n from message_search_words
      where word >= ${'\uE000'} and word < ${'\uF900'}`.execute(db);
    expect(Number(rows[0]!.n)).toBe(0);
    // The same characters as a message's text are an ordinary word of that message only.
    await deliver(ownerBox, [mail('Texto igual', `O codigo ${text} no corpo.`)]);
    expect(await subjects(text)).toEqual(['Texto igual']);
    expect(await subjects(text.slice(0, 8))).toEqual(['Texto igual']);
  });

  it("searches a contact's timeline: that contact's matches only, phrases and prefixes too", async () => {
    const stranger = `outro-${Date.now()}@comprador.test`;
    expect((await conversa.api('POST', '/api/contacts', { emails: [stranger] })).status).toBe(201);
    await deliver(ownerBox, [
      mail('Do cliente', 'Uma palavra siriema aqui.'),
      makeMessage({ from: stranger, to: ['me@mailbox.test'], subject: 'Do outro', body: 'Uma palavra siriema ali.' }),
    ]);
    const timeline = `/api/contacts/${contactId}/messages`;
    expect((await subjects('siriema')).sort()).toEqual(['Do cliente', 'Do outro']);
    expect(await subjects('siriema', owner.token, timeline)).toEqual(['Do cliente']);
    expect(await subjects('"palavra siriema"', owner.token, timeline)).toEqual(['Do cliente']);
    expect(await subjects('sirie', owner.token, timeline)).toEqual(['Do cliente']);
    expect(await subjects('"siriema palavra"', owner.token, timeline)).toEqual([]);
  });

  it('documents q and match in the OpenAPI document', async () => {
    const res = await conversa.api('GET', '/api/openapi.json');
    expect(res.status).toBe(200);
    const text = JSON.stringify(res.body);
    expect(text).toContain('highlights');
    for (const path of ['/api/inbox', '/api/contacts/{id}/messages']) {
      const params = res.body.paths[path].get.parameters.map((p: { name: string }) => p.name);
      expect(params, path).toContain('q');
    }
  });
});
