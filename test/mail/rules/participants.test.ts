import { describe, expect, it } from 'vitest';
import {
  computeParticipants,
  parseListId,
  type Address,
  type HeaderAddresses,
} from '../../../src/mail/rules/participants.js';

const a = (address: string, name: string | null = null): Address => ({ address, name });

function headers(overrides: Partial<HeaderAddresses>): HeaderAddresses {
  return {
    from: null,
    sender: null,
    replyTo: [],
    to: [],
    cc: [],
    bcc: [],
    listId: null,
    originalFrom: null,
    ...overrides,
  };
}

describe('parseListId', () => {
  it('reads the RFC 2919 form', () => {
    expect(parseListId('"James Developers List" <server-dev.james.apache.org>')).toEqual({
      id: 'server-dev.james.apache.org',
      address: null,
    });
    expect(parseListId('<frnog.frnog.org>')).toEqual({ id: 'frnog.frnog.org', address: null });
    expect(parseListId('Vendas <Vendas.Empresa.com.br>')).toEqual({ id: 'vendas.empresa.com.br', address: null });
  });

  it('reads a bare id and a broken one that names an address (corpus thr-rbmail-empty_in_reply_to.eml)', () => {
    expect(parseListId('lista.exemplo.org')).toEqual({ id: 'lista.exemplo.org', address: null });
    expect(parseListId(' abuser@rg.com Mailing List')).toEqual({ id: 'abuser.rg.com', address: 'abuser@rg.com' });
    expect(parseListId('<mailto:lista@exemplo.org>')).toEqual({
      id: 'lista.exemplo.org',
      address: 'lista@exemplo.org',
    });
  });

  it('is empty for nothing usable', () => {
    expect(parseListId(null)).toEqual({ id: null, address: null });
    expect(parseListId('')).toEqual({ id: null, address: null });
    expect(parseListId('just words')).toEqual({ id: null, address: null });
  });
});

describe('computeParticipants: ordinary mail', () => {
  it('lists everyone by role in header order and maps From, Reply-To, To, Cc, Bcc', () => {
    const result = computeParticipants(
      headers({
        from: a('ana@cliente.com.br', 'Ana Souza'),
        replyTo: [a('ana.souza@cliente.com.br')],
        to: [a('carlos@empresa.com.br', 'Carlos Lima')],
        cc: [a('bia@cliente.com.br')],
        bcc: [a('arquivo@empresa.com.br')],
      }),
    );
    expect(result.participants).toEqual([
      { role: 'from', address: 'ana@cliente.com.br', name: 'Ana Souza' },
      { role: 'reply-to', address: 'ana.souza@cliente.com.br', name: null },
      { role: 'to', address: 'carlos@empresa.com.br', name: 'Carlos Lima' },
      { role: 'cc', address: 'bia@cliente.com.br', name: null },
      { role: 'bcc', address: 'arquivo@empresa.com.br', name: null },
    ]);
    expect(result.mappingAddresses).toEqual([
      'ana@cliente.com.br',
      'ana.souza@cliente.com.br',
      'carlos@empresa.com.br',
      'bia@cliente.com.br',
      'arquivo@empresa.com.br',
    ]);
    expect(result.effectiveFrom).toEqual({ address: 'ana@cliente.com.br', name: 'Ana Souza' });
    expect(result.fromRewrittenByList).toBe(false);
    expect(result.listAddresses).toEqual([]);
  });

  it('lower-cases, trims, drops empty names and invalid addresses, and maps an address once', () => {
    const result = computeParticipants(
      headers({
        from: a(' Ana@Cliente.COM.br ', '  '),
        to: [a('carlos@empresa.com.br'), a(''), a('undisclosed-recipients'), a('CARLOS@empresa.com.br', 'Carlos')],
        cc: [a('carlos@empresa.com.br')],
      }),
    );
    expect(result.participants).toEqual([
      { role: 'from', address: 'ana@cliente.com.br', name: null },
      { role: 'to', address: 'carlos@empresa.com.br', name: 'Carlos' },
      { role: 'cc', address: 'carlos@empresa.com.br', name: null },
    ]);
    expect(result.mappingAddresses).toEqual(['ana@cliente.com.br', 'carlos@empresa.com.br']);
  });

  it('records Sender but does not map it (RFC 2822 A.1.2, corpus addr-rbmail-example02.eml)', () => {
    const result = computeParticipants(
      headers({
        from: a('john.q.public@example.com', 'Joe Q. Public'),
        sender: a('mjones@machine.example', 'Michael Jones'),
        to: [a('mary@example.net', 'Mary Smith')],
      }),
    );
    expect(result.participants.map((p) => [p.role, p.address])).toEqual([
      ['from', 'john.q.public@example.com'],
      ['sender', 'mjones@machine.example'],
      ['to', 'mary@example.net'],
    ]);
    expect(result.mappingAddresses).toEqual(['john.q.public@example.com', 'mary@example.net']);
    expect(result.effectiveFrom?.address).toBe('john.q.public@example.com');
  });

  it('keeps several From addresses (corpus addr-rbmail-raw_email_with_at_display_name.eml)', () => {
    const result = computeParticipants(
      headers({
        from: [a('test@lindsaar.net', 'Mikel@Lindsaar'), a('mikel@lindsaar.net')],
        to: [a('raasdnil@gmail.com')],
      }),
    );
    expect(result.participants.filter((p) => p.role === 'from').map((p) => p.address)).toEqual([
      'test@lindsaar.net',
      'mikel@lindsaar.net',
    ]);
    expect(result.effectiveFrom?.address).toBe('test@lindsaar.net');
    expect(result.mappingAddresses).toEqual(['test@lindsaar.net', 'mikel@lindsaar.net', 'raasdnil@gmail.com']);
  });

  it('has no effective sender without a From', () => {
    const result = computeParticipants(headers({ to: [a('x@y.example')] }));
    expect(result.effectiveFrom).toBeNull();
    expect(result.mappingAddresses).toEqual(['x@y.example']);
  });

  it('ignores X-Original-From on mail that shows no sign of a list', () => {
    const result = computeParticipants(
      headers({ from: a('ana@cliente.com.br'), originalFrom: a('outra@x.example'), to: [a('me@empresa.com.br')] }),
    );
    expect(result.effectiveFrom?.address).toBe('ana@cliente.com.br');
    expect(result.fromRewrittenByList).toBe(false);
    expect(result.mappingAddresses).toEqual(['ana@cliente.com.br', 'me@empresa.com.br']);
  });

  it('keeps a "via" sender without a list as it is: Google Drive shares map the sharer through Reply-To anyway', () => {
    const result = computeParticipants(
      headers({
        from: a('drive-shares-dm-noreply@google.com', 'Ana Souza (via Google Drive)'),
        replyTo: [a('ana@cliente.com.br', 'Ana Souza')],
        to: [a('carlos@empresa.com.br')],
      }),
    );
    expect(result.fromRewrittenByList).toBe(false);
    expect(result.effectiveFrom?.address).toBe('drive-shares-dm-noreply@google.com');
    expect(result.mappingAddresses).toEqual([
      'drive-shares-dm-noreply@google.com',
      'ana@cliente.com.br',
      'carlos@empresa.com.br',
    ]);
  });

  it('keeps a LinkedIn-style "X via LinkedIn" notification as it is', () => {
    const result = computeParticipants(
      headers({
        from: a('messages-noreply@linkedin.com', 'João Pereira via LinkedIn'),
        to: [a('carlos@empresa.com.br')],
      }),
    );
    expect(result.fromRewrittenByList).toBe(false);
    expect(result.effectiveFrom?.address).toBe('messages-noreply@linkedin.com');
  });
});

describe('computeParticipants: mailing lists', () => {
  it('Google Groups "via" rewriting: X-Original-From is the sender, the group never maps', () => {
    const result = computeParticipants(
      headers({
        from: a('vendas-parceiros@googlegroups.com', "'Ana Souza' via Vendas Parceiros"),
        sender: a('vendas-parceiros@googlegroups.com'),
        replyTo: [a('ana@cliente.com.br', 'Ana Souza')],
        to: [a('vendas-parceiros@googlegroups.com', 'Vendas Parceiros')],
        cc: [a('carlos@empresa.com.br')],
        listId: '<vendas-parceiros.googlegroups.com>',
        originalFrom: a('ana@cliente.com.br', 'Ana Souza'),
      }),
    );
    expect(result.fromRewrittenByList).toBe(true);
    expect(result.effectiveFrom).toEqual({ address: 'ana@cliente.com.br', name: 'Ana Souza' });
    expect(result.participants).toEqual([
      { role: 'from', address: 'ana@cliente.com.br', name: 'Ana Souza' },
      { role: 'sender', address: 'vendas-parceiros@googlegroups.com', name: "'Ana Souza' via Vendas Parceiros" },
      { role: 'reply-to', address: 'ana@cliente.com.br', name: 'Ana Souza' },
      { role: 'to', address: 'vendas-parceiros@googlegroups.com', name: 'Vendas Parceiros' },
      { role: 'cc', address: 'carlos@empresa.com.br', name: null },
    ]);
    expect(result.mappingAddresses).toEqual(['ana@cliente.com.br', 'carlos@empresa.com.br']);
    expect(result.listAddresses).toEqual(['vendas-parceiros@googlegroups.com']);
  });

  it('Google Workspace group on the company domain: the List-Id names the group; the author name comes from "via" when X-Original-From has none', () => {
    const result = computeParticipants(
      headers({
        from: a('comercial@empresa.com.br', "'Ana Souza' via Comercial"),
        to: [a('comercial@empresa.com.br')],
        listId: 'Comercial <comercial.empresa.com.br>',
        originalFrom: a('ana@cliente.com.br'),
      }),
    );
    expect(result.effectiveFrom).toEqual({ address: 'ana@cliente.com.br', name: 'Ana Souza' });
    expect(result.mappingAddresses).toEqual(['ana@cliente.com.br']);
    expect(result.listAddresses).toEqual(['comercial@empresa.com.br']);
  });

  it('Mailman DMARC munging: "X via List" From, the author in Reply-To, the -bounces Sender', () => {
    const result = computeParticipants(
      headers({
        from: a('lista-dev@lists.exemplo.org', 'Carlos Lima via Lista-Dev'),
        sender: a('lista-dev-bounces+carlos=empresa.com.br@lists.exemplo.org'),
        replyTo: [a('carlos@empresa.com.br', 'Carlos Lima')],
        to: [a('lista-dev@lists.exemplo.org')],
        listId: 'Lista de desenvolvimento <lista-dev.lists.exemplo.org>',
      }),
    );
    expect(result.fromRewrittenByList).toBe(true);
    expect(result.effectiveFrom).toEqual({ address: 'carlos@empresa.com.br', name: 'Carlos Lima' });
    expect(result.mappingAddresses).toEqual(['carlos@empresa.com.br']);
    expect(result.listAddresses.sort()).toEqual([
      'lista-dev-bounces+carlos=empresa.com.br@lists.exemplo.org',
      'lista-dev@lists.exemplo.org',
    ]);
  });

  it('Mailman with replies to the list and the author in Cc: From stays but does not map; the author maps through Cc', () => {
    const result = computeParticipants(
      headers({
        from: a('lista@lists.exemplo.org', 'Carlos Lima via Lista'),
        replyTo: [a('lista@lists.exemplo.org')],
        to: [a('lista@lists.exemplo.org')],
        cc: [a('carlos@empresa.com.br', 'Carlos Lima')],
        listId: '<lista.lists.exemplo.org>',
      }),
    );
    expect(result.fromRewrittenByList).toBe(true);
    expect(result.effectiveFrom?.address).toBe('lista@lists.exemplo.org');
    expect(result.participants[0]).toEqual({
      role: 'from',
      address: 'lista@lists.exemplo.org',
      name: 'Carlos Lima via Lista',
    });
    expect(result.mappingAddresses).toEqual(['carlos@empresa.com.br']);
  });

  it('an unmunged list post (ezmlm, corpus list-james-mail1.eml): From stays, the list in Reply-To does not map', () => {
    const result = computeParticipants(
      headers({
        from: a('jira2@apache.org', 'Tellier Benoit (JIRA)'),
        replyTo: [a('server-dev@james.apache.org', 'James Developers List')],
        to: [a('b-server-dev@james.apache.org', 'abc')],
        listId: '"James Developers List" <server-dev.james.apache.org>',
      }),
    );
    expect(result.fromRewrittenByList).toBe(false);
    expect(result.effectiveFrom?.address).toBe('jira2@apache.org');
    expect(result.mappingAddresses).toEqual(['jira2@apache.org', 'b-server-dev@james.apache.org']);
    expect(result.listAddresses).toEqual(['server-dev@james.apache.org']);
  });

  it('a Sympa post (corpus list-james-frnog.eml): the list in To and its -request Sender do not map', () => {
    const result = computeParticipants(
      headers({
        from: a('ggenty@waycom.net', 'Guillaume Genty'),
        sender: a('frnog-request@frnog.org'),
        to: [a('frnog@frnog.org')],
        cc: [a('no@no.com')],
        listId: '<frnog.frnog.org>',
      }),
    );
    expect(result.fromRewrittenByList).toBe(false);
    expect(result.mappingAddresses).toEqual(['ggenty@waycom.net', 'no@no.com']);
    expect(result.listAddresses.sort()).toEqual(['frnog-request@frnog.org', 'frnog@frnog.org']);
  });

  it('Google Groups without rewriting: the author is From, the group in To does not map', () => {
    const result = computeParticipants(
      headers({
        from: a('ana@cliente.com.br', 'Ana Souza'),
        to: [a('vendas-parceiros@googlegroups.com')],
        listId: '<vendas-parceiros.googlegroups.com>',
        originalFrom: a('ana@cliente.com.br', 'Ana Souza'),
      }),
    );
    expect(result.fromRewrittenByList).toBe(false);
    expect(result.effectiveFrom?.address).toBe('ana@cliente.com.br');
    expect(result.mappingAddresses).toEqual(['ana@cliente.com.br']);
  });

  it('a list post whose X-Original-From differs from From counts as rewritten even without "via"', () => {
    const result = computeParticipants(
      headers({
        from: a('relay@lists.exemplo.org', 'Lista Exemplo'),
        to: [a('todos@lists.exemplo.org')],
        listId: '<todos.lists.exemplo.org>',
        originalFrom: a('bia@cliente.com.br', 'Bia'),
      }),
    );
    expect(result.fromRewrittenByList).toBe(true);
    expect(result.effectiveFrom?.address).toBe('bia@cliente.com.br');
    expect(result.mappingAddresses).toEqual(['bia@cliente.com.br']);
  });

  it('a list address written with dots in its name is matched exactly, not by guessing where the @ goes', () => {
    const result = computeParticipants(
      headers({
        from: a('ana@cliente.com.br'),
        to: [a('time.vendas@lists.exemplo.org'), a('time@vendas.lists.exemplo.org')],
        listId: '<time.vendas.lists.exemplo.org>',
      }),
    );
    // Both spell the id; only the real list address would appear in practice, and neither should map.
    expect(result.mappingAddresses).toEqual(['ana@cliente.com.br']);
    const other = computeParticipants(
      headers({
        from: a('ana@cliente.com.br'),
        to: [a('vendas@lists.exemplo.org')],
        listId: '<time.vendas.lists.exemplo.org>',
      }),
    );
    expect(other.mappingAddresses).toEqual(['ana@cliente.com.br', 'vendas@lists.exemplo.org']);
  });
});
