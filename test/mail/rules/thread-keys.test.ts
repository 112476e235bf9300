import { describe, expect, it } from 'vitest';
import {
  MAX_REFERENCE_KEYS,
  SUBJECT_FALLBACK_WINDOW_MS,
  gmThreadKey,
  isTrivialSubject,
  normalizeSubject,
  participantsOverlap,
  subjectFallbackMatches,
  threadKeys,
  type ThreadKeyInput,
} from '../../../src/mail/rules/thread-keys.js';

describe('threadKeys', () => {
  it('looks up by Gmail thread id first, then the References root, the other references, In-Reply-To, the own id', () => {
    const keys = threadKeys({
      messageId: 'm4@x.example',
      inReplyTo: 'm3@x.example',
      references: ['m1@x.example', 'm2@x.example', 'm3@x.example'],
      gmThreadId: '1795366432516395563',
    });
    expect(keys.lookup).toEqual([
      'gm:1795366432516395563',
      'mid:m1@x.example',
      'mid:m2@x.example',
      'mid:m3@x.example',
      'mid:m4@x.example',
    ]);
    expect(keys.register).toEqual([
      'gm:1795366432516395563',
      'mid:m4@x.example',
      'mid:m1@x.example',
      'mid:m2@x.example',
      'mid:m3@x.example',
    ]);
  });

  it('keeps an In-Reply-To that References does not name (mailers that only set In-Reply-To)', () => {
    const keys = threadKeys({
      messageId: '<reply@outlook.example>',
      inReplyTo: '<orig@cliente.com.br>',
      references: null,
    });
    expect(keys.lookup).toEqual(['mid:orig@cliente.com.br', 'mid:reply@outlook.example']);
    expect(keys.register).toEqual(['mid:reply@outlook.example', 'mid:orig@cliente.com.br']);
  });

  it('reads raw headers and normalises them (corpus list-james-mail1.eml, thr-james-nested2.eml)', () => {
    const keys = threadKeys({
      messageId: '<JIRA.12835341.1433409792000.9340.1433409817961@Atlassian.JIRA>',
      inReplyTo: '<JIRA.12835341.1433409792000@Atlassian.JIRA>',
      references: '<JIRA.12835341.1433409792000@Atlassian.JIRA> <JIRA.12835341.1433409792972@arcas>',
    });
    expect(keys.lookup).toEqual([
      'mid:JIRA.12835341.1433409792000@atlassian.jira',
      'mid:JIRA.12835341.1433409792972@arcas',
      'mid:JIRA.12835341.1433409792000.9340.1433409817961@atlassian.jira',
    ]);
    const fwd = threadKeys({
      messageId: '<b3493b24-116a-4d6b-a61c-1a3b09e44619@linagora.com>',
      inReplyTo: '<Mime4j.8f3.69abfdd624c15c44.18dcdad3859@linagora.com>',
      references: '<Mime4j.8f3.69abfdd624c15c44.18dcdad3859@linagora.com>',
    });
    expect(fwd.lookup).toEqual([
      'mid:Mime4j.8f3.69abfdd624c15c44.18dcdad3859@linagora.com',
      'mid:b3493b24-116a-4d6b-a61c-1a3b09e44619@linagora.com',
    ]);
  });

  it('skips broken and empty ids (corpus thr-rbmail-empty_in_reply_to.eml, multiple_references_with_one_invalid.eml)', () => {
    const keys = threadKeys({
      messageId: '<F194F88AF3E341A6B2B135CC17912811@articondell>',
      inReplyTo: '',
      references: ['<foo@bar.net>', '<baz@bar.net>, <invalid.   '],
    });
    expect(keys.lookup).toEqual([
      'mid:foo@bar.net',
      'mid:baz@bar.net',
      'mid:F194F88AF3E341A6B2B135CC17912811@articondell',
    ]);
  });

  it('gives no keys for a message without any id (it can only start a thread or join by subject)', () => {
    expect(threadKeys({ messageId: null, inReplyTo: null, references: [] })).toEqual({ lookup: [], register: [] });
    expect(
      threadKeys({ messageId: 'garbage', inReplyTo: 'also garbage', references: 'none', gmThreadId: 'x' }),
    ).toEqual({ lookup: [], register: [] });
  });

  it('does not repeat a key: a message that references itself, or In-Reply-To equal to the last reference', () => {
    const keys = threadKeys({
      messageId: 'a@x.example',
      inReplyTo: 'b@x.example',
      references: ['a@x.example', 'b@x.example'],
    });
    expect(keys.lookup).toEqual(['mid:a@x.example', 'mid:b@x.example']);
    expect(keys.register).toEqual(['mid:a@x.example', 'mid:b@x.example']);
  });

  it(`keeps the root and the nearest ancestors of a very long chain (at most ${MAX_REFERENCE_KEYS})`, () => {
    const references = Array.from({ length: 120 }, (_, i) => `r${i}@x.example`);
    const keys = threadKeys({ messageId: 'own@x.example', inReplyTo: 'r119@x.example', references });
    expect(keys.lookup).toHaveLength(MAX_REFERENCE_KEYS + 1);
    expect(keys.lookup[0]).toBe('mid:r0@x.example');
    expect(keys.lookup[1]).toBe(`mid:r${120 - (MAX_REFERENCE_KEYS - 1)}@x.example`);
    expect(keys.lookup.at(-2)).toBe('mid:r119@x.example');
    expect(keys.lookup.at(-1)).toBe('mid:own@x.example');
  });

  it('keys Gmail thread ids in decimal', () => {
    expect(gmThreadKey(1795366432516395563n)).toBe('gm:1795366432516395563');
    expect(gmThreadKey(' 17 ')).toBe('gm:17');
    expect(gmThreadKey(null)).toBeNull();
    expect(gmThreadKey('T-17')).toBeNull();
  });

  // What the engine does with the keys, in memory: the first lookup key found decides, else a new thread;
  // then every register key points at the thread (existing keys keep their thread).
  function threader(): (input: ThreadKeyInput) => number {
    const index = new Map<string, number>();
    let next = 1;
    return (input) => {
      const keys = threadKeys(input);
      const found = keys.lookup.map((k) => index.get(k)).find((t) => t !== undefined);
      const thread = found ?? next++;
      for (const k of keys.register) if (!index.has(k)) index.set(k, thread);
      return thread;
    };
  }

  it('links the children of a parent that was never synced', () => {
    const thread = threader();
    // The customer's original went to a colleague's mailbox that is not connected; two replies to it arrive.
    const a = thread({
      messageId: 'reply1@empresa.com.br',
      inReplyTo: 'orig@cliente.com.br',
      references: ['orig@cliente.com.br'],
    });
    const b = thread({
      messageId: 'reply2@cliente.com.br',
      inReplyTo: 'orig@cliente.com.br',
      references: ['orig@cliente.com.br'],
    });
    expect(b).toBe(a);
  });

  it('joins a parent that arrives after its child, and a grandchild that names only its parent', () => {
    const thread = threader();
    const child = thread({
      messageId: 'child@x.example',
      inReplyTo: 'parent@x.example',
      references: ['parent@x.example'],
    });
    const parent = thread({ messageId: 'parent@x.example', inReplyTo: null, references: [] });
    const grandchild = thread({ messageId: 'gc@x.example', inReplyTo: 'child@x.example', references: null });
    expect(parent).toBe(child);
    expect(grandchild).toBe(child);
  });

  it('keeps unrelated conversations apart', () => {
    const thread = threader();
    const a = thread({ messageId: 'a1@x.example', inReplyTo: null, references: [] });
    const b = thread({ messageId: 'b1@x.example', inReplyTo: null, references: [] });
    expect(thread({ messageId: 'a2@x.example', inReplyTo: 'a1@x.example', references: ['a1@x.example'] })).toBe(a);
    expect(thread({ messageId: 'b2@x.example', inReplyTo: 'b1@x.example', references: ['b1@x.example'] })).toBe(b);
    expect(a).not.toBe(b);
  });

  it("lets Gmail's thread id join messages whose chain is broken, and its copies elsewhere find the thread", () => {
    const thread = threader();
    const first = thread({ messageId: 'g1@mail.gmail.com', inReplyTo: null, references: [], gmThreadId: '900' });
    // Gmail groups a reply whose References were stripped by the other side's mailer.
    const second = thread({ messageId: 'g2@cliente.com.br', inReplyTo: null, references: [], gmThreadId: '900' });
    // The same reply synced from a non-Gmail mailbox finds the thread by its own id.
    const copy = thread({ messageId: 'g2@cliente.com.br', inReplyTo: null, references: [] });
    expect(second).toBe(first);
    expect(copy).toBe(first);
  });
});

describe('normalizeSubject', () => {
  const cases: Array<[string, string]> = [
    ['Re: Proposta comercial', 'proposta comercial'],
    ['RE: RE: Proposta comercial', 'proposta comercial'],
    ['Re:Re:Re: Proposta', 'proposta'],
    ['re: Proposta', 'proposta'],
    // Outlook in pt-BR
    ['RES: Proposta comercial', 'proposta comercial'],
    ['ENC: Proposta comercial', 'proposta comercial'],
    ['RES: ENC: RES: Proposta comercial', 'proposta comercial'],
    ['Res: Enc: Orçamento nº 123', 'orçamento no 123'], // NFKC: º is a compatibility form of o
    // German Outlook
    ['AW: Angebot', 'angebot'],
    ['WG: AW: RE: Angebot Nr. 4711', 'angebot nr. 4711'],
    ['Aw: Wg: Angebot', 'angebot'],
    // English, forwards, mixed
    ['Fwd: Fw: FW: Contract', 'contract'],
    ['Fwd: Re: Contract', 'contract'],
    // Counters
    ['Re[2]: Contract', 'contract'],
    ['RE[12]: Re(3): Re^2: Contract', 'contract'],
    // French ("Re :" with a space), TR for forwards
    ['Re : Devis', 'devis'],
    ['TR: RE : Devis', 'devis'],
    // Nordic, Finnish, Dutch, Italian, Spanish, Polish, Turkish, Greek, Chinese, Japanese
    ['SV: Offert', 'offert'],
    ['VS: Tarjous', 'tarjous'],
    ['Antw: Offerte', 'offerte'],
    ['Doorst: Offerte', 'offerte'],
    ['R: Preventivo', 'preventivo'],
    ['RIF: Preventivo', 'preventivo'],
    ['I: R: Preventivo', 'preventivo'],
    ['RV: Presupuesto', 'presupuesto'],
    ['Odp: PD: Oferta', 'oferta'],
    ['YNT: İLT: Teklif', 'teklif'],
    ['ΑΠ: Προσφορά', 'προσφορά'],
    ['回复：报价单', '报价单'],
    ['转发: 报价单', '报价单'],
    ['返信：見積書', '見積書'],
    // Gateway tags go, wherever they sit among the prefixes
    ['[External] RE: Proposal', 'proposal'],
    ['RE: [EXTERNAL EMAIL] Proposal', 'proposal'],
    ['[EXT] Re: [External] Re: Proposal', 'proposal'],
    ['AW: [EXTERN] Angebot', 'angebot'],
    ['[SPAM] Proposal', 'proposal'],
    // List and ticket tags stay; prefixes around them go
    ['[FRnOG] [BIZ] Collecte de liens C2E/CELAN en DOM', '[frnog] [biz] collecte de liens c2e/celan en dom'],
    ['Re: [FRnOG] [BIZ] Collecte de liens C2E/CELAN en DOM', '[frnog] [biz] collecte de liens c2e/celan en dom'],
    ['[Vendas] Re: Reunião', '[vendas] reunião'],
    ['Re: [Vendas] Re: Reunião', '[vendas] reunião'],
    ['[Ticket #123] Re: Help', '[ticket #123] help'],
    // Trailing (fwd), folding whitespace, full-width forms
    ['Contract (fwd)', 'contract'],
    ['Re:  Proposta\r\n comercial ', 'proposta comercial'],
    ['ＲＥ：Proposal', 'proposal'],
    // Words that merely start like a prefix are left alone
    ['Resumo: Q3', 'resumo: q3'],
    ['Reunião amanhã', 'reunião amanhã'],
    ['Treinamento: vendas', 'treinamento: vendas'],
    ['Ressalvas do contrato', 'ressalvas do contrato'],
    ['FYI: contract', 'fyi: contract'],
    ['Invoice: 42', 'invoice: 42'],
    ['Re-orçamento', 're-orçamento'],
    ['Contract Re: clause 4', 'contract re: clause 4'],
    // Degenerate
    ['Re:', ''],
    ['Re', 're'],
    ['', ''],
  ];
  it.each(cases)('%j → %j', (subject, expected) => {
    expect(normalizeSubject(subject)).toBe(expected);
  });

  it('treats null and undefined as empty', () => {
    expect(normalizeSubject(null)).toBe('');
    expect(normalizeSubject(undefined)).toBe('');
  });

  it('gives a reply and its original the same key, whatever the case', () => {
    expect(normalizeSubject('RE: PROPOSTA Comercial')).toBe(normalizeSubject('Proposta comercial'));
  });

  it('keeps different ticket numbers apart', () => {
    expect(normalizeSubject('[Ticket #1] Help')).not.toBe(normalizeSubject('[Ticket #2] Help'));
  });

  it('is idempotent', () => {
    for (const [subject] of cases) expect(normalizeSubject(normalizeSubject(subject))).toBe(normalizeSubject(subject));
  });
});

describe('isTrivialSubject', () => {
  it('flags empty, tiny and greeting subjects', () => {
    for (const subject of [
      '',
      null,
      'Re:',
      'Hi',
      'Re: Hi!',
      'Oi',
      'Olá',
      'Bom dia!',
      'hello',
      '(no subject)',
      'Sem assunto',
      'Q3',
      '??',
      'Teste',
      'FW: Fwd: thanks',
      '是',
    ]) {
      expect(isTrivialSubject(subject), String(subject)).toBe(true);
    }
  });

  it('accepts subjects that say something', () => {
    for (const subject of [
      'Proposta comercial',
      'Re: Hi there, about the contract',
      'Q3 forecast',
      'Angebot Nr. 4711',
      '報価',
      '見積',
    ]) {
      expect(isTrivialSubject(subject), subject).toBe(false);
    }
  });
});

describe('participantsOverlap', () => {
  it('matches equal sets, whatever the case and order', () => {
    expect(
      participantsOverlap(['me@empresa.com.br', 'ana@cliente.com.br'], ['Ana@Cliente.com.br', 'me@empresa.com.br']),
    ).toBe(true);
    expect(participantsOverlap(['me@empresa.com.br'], ['me@empresa.com.br'])).toBe(true);
  });

  it('matches a reply-all that adds or drops colleagues', () => {
    expect(participantsOverlap(['me@e.com', 'ana@c.com'], ['me@e.com', 'ana@c.com', 'bia@c.com', 'caio@c.com'])).toBe(
      true,
    );
    expect(participantsOverlap(['me@e.com', 'ana@c.com', 'bia@c.com'], ['me@e.com', 'ana@c.com', 'davi@c.com'])).toBe(
      true,
    );
  });

  it('does not match the same subject sent separately to different customers', () => {
    expect(participantsOverlap(['me@e.com', 'ana@c.com'], ['me@e.com', 'bia@d.com'])).toBe(false);
    expect(participantsOverlap(['me@e.com'], ['me@e.com', 'ana@c.com'])).toBe(false);
  });

  it('does not match group mails that share only two of four people', () => {
    expect(
      participantsOverlap(['me@e.com', 'a@c.com', 'b@c.com', 'c@c.com'], ['me@e.com', 'c@c.com', 'd@c.com', 'e@c.com']),
    ).toBe(false);
    expect(
      participantsOverlap(['me@e.com', 'a@c.com', 'b@c.com', 'c@c.com'], ['me@e.com', 'a@c.com', 'b@c.com', 'e@c.com']),
    ).toBe(true);
  });

  it('never matches an empty side', () => {
    expect(participantsOverlap([], [])).toBe(false);
    expect(participantsOverlap(['me@e.com'], ['', ' '])).toBe(false);
  });
});

describe('subjectFallbackMatches', () => {
  const day = 24 * 60 * 60 * 1000;
  const t0 = Date.UTC(2024, 4, 10, 12, 0, 0);
  const original = {
    subject: 'Proposta comercial',
    participants: ['carlos@empresa.com.br', 'ana@cliente.com.br'],
    date: t0,
  };
  // Ana answered from her phone, whose mailer dropped In-Reply-To and References, and Outlook pt-BR prefixed RES:.
  const reply = {
    subject: 'RES: Proposta comercial',
    participants: ['ana@cliente.com.br', 'carlos@empresa.com.br'],
    date: t0 + 2 * day,
  };

  it('joins a reply without a chain to its original: same subject, same people, days apart', () => {
    expect(subjectFallbackMatches(reply, original)).toBe(true);
    expect(subjectFallbackMatches(original, reply)).toBe(true);
  });

  it('joins a forward among the same people, and a reply-all that adds a colleague', () => {
    expect(subjectFallbackMatches({ ...reply, subject: 'ENC: Proposta comercial' }, original)).toBe(true);
    expect(
      subjectFallbackMatches({ ...reply, participants: [...reply.participants, 'bia@cliente.com.br'] }, original),
    ).toBe(true);
  });

  it('refuses other subjects, trivial subjects, other people', () => {
    expect(subjectFallbackMatches({ ...reply, subject: 'RES: Proposta comercial 2' }, original)).toBe(false);
    expect(subjectFallbackMatches({ ...reply, subject: 'Re: Oi' }, { ...original, subject: 'Oi' })).toBe(false);
    expect(subjectFallbackMatches({ ...reply, subject: '' }, { ...original, subject: '' })).toBe(false);
    expect(
      subjectFallbackMatches({ ...reply, participants: ['bia@outra.com.br', 'carlos@empresa.com.br'] }, original),
    ).toBe(false);
  });

  it(`needs the dates within the window (default ${SUBJECT_FALLBACK_WINDOW_MS / day} days, inclusive)`, () => {
    expect(subjectFallbackMatches({ ...reply, date: t0 + 7 * day }, original)).toBe(true);
    expect(subjectFallbackMatches({ ...reply, date: t0 + 7 * day + 1 }, original)).toBe(false);
    expect(subjectFallbackMatches({ ...reply, date: t0 - 7 * day - 1 }, original)).toBe(false);
    expect(subjectFallbackMatches({ ...reply, date: t0 + 2 * day }, original, day)).toBe(false);
    expect(subjectFallbackMatches({ ...reply, date: new Date(t0 + day) }, { ...original, date: new Date(t0) })).toBe(
      true,
    );
  });

  it('refuses unknown dates', () => {
    expect(subjectFallbackMatches({ ...reply, date: null }, original)).toBe(false);
    expect(subjectFallbackMatches({ ...reply, date: Number.NaN }, original)).toBe(false);
    expect(subjectFallbackMatches({ ...reply, date: new Date('not a date') }, original)).toBe(false);
  });

  it('joins a gateway-tagged copy: the receiving side sees "[External] RE:" on the same conversation', () => {
    expect(subjectFallbackMatches({ ...reply, subject: '[External] RE: Proposta comercial' }, original)).toBe(true);
  });
});
