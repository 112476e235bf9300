import { describe, expect, it } from 'vitest';
import { addressesToAutoCreate, type AutoCreateInput } from '../../../src/mail/rules/auto-contacts.js';
import { isMachineMessage } from '../../../src/mail/rules/machine-senders.js';
import { parseNeverLogList } from '../../../src/mail/rules/never-log.js';
import { computeParticipants } from '../../../src/mail/rules/participants.js';

const me = 'carlos@empresa.com.br';

function input(overrides: Partial<AutoCreateInput>): AutoCreateInput {
  return {
    direction: 'incoming',
    participants: [],
    ownAddresses: [me],
    existingContactAddresses: new Set(),
    neverLog: parseNeverLogList([]),
    machineMessage: false,
    ...overrides,
  };
}

describe('addressesToAutoCreate', () => {
  it('creates the new To/Cc/Bcc addresses of received mail — not its From or Reply-To (product.md, literally)', () => {
    const result = addressesToAutoCreate(
      input({
        participants: [
          { role: 'from', address: 'ana@cliente.com.br' },
          { role: 'reply-to', address: 'ana.souza@cliente.com.br' },
          { role: 'sender', address: 'assistente@cliente.com.br' },
          { role: 'to', address: me },
          { role: 'to', address: 'bia@cliente.com.br' },
          { role: 'cc', address: 'davi@parceiro.com' },
          { role: 'bcc', address: 'eva@parceiro.com' },
        ],
      }),
    );
    expect(result).toEqual(['bia@cliente.com.br', 'davi@parceiro.com', 'eva@parceiro.com']);
  });

  it('creates the recipients of sent mail', () => {
    const result = addressesToAutoCreate(
      input({
        direction: 'outgoing',
        participants: [
          { role: 'from', address: me },
          { role: 'to', address: 'ana@cliente.com.br' },
          { role: 'cc', address: 'bia@cliente.com.br' },
        ],
      }),
    );
    expect(result).toEqual(['ana@cliente.com.br', 'bia@cliente.com.br']);
  });

  it("never creates the user's own addresses, their +tagged forms or the account's BCC dropbox", () => {
    const result = addressesToAutoCreate(
      input({
        direction: 'outgoing',
        ownAddresses: ['Carlos@Empresa.com.br', 'vendas@empresa.com.br', 'k3j9x2@bcc.conversa.example'],
        participants: [
          { role: 'to', address: 'ana@cliente.com.br' },
          { role: 'cc', address: 'vendas@empresa.com.br' },
          { role: 'cc', address: 'carlos+crm@empresa.com.br' },
          { role: 'bcc', address: 'k3j9x2@bcc.conversa.example' },
        ],
      }),
    );
    expect(result).toEqual(['ana@cliente.com.br']);
  });

  it('skips addresses that are contacts already', () => {
    const result = addressesToAutoCreate(
      input({
        existingContactAddresses: new Set(['bia@cliente.com.br']),
        participants: [
          { role: 'to', address: 'bia@cliente.com.br' },
          { role: 'cc', address: 'Bia@Cliente.com.br' },
          { role: 'cc', address: 'caio@cliente.com.br' },
        ],
      }),
    );
    expect(result).toEqual(['caio@cliente.com.br']);
  });

  it('never creates machine addresses', () => {
    const result = addressesToAutoCreate(
      input({
        direction: 'outgoing',
        participants: [
          { role: 'to', address: 'noreply@banco.com.br' },
          { role: 'to', address: 'support+id12345@fornecedor.zendesk.com' },
          { role: 'cc', address: 'notifications@github.com' },
          { role: 'cc', address: 'info@fornecedor.com' },
        ],
      }),
    );
    expect(result).toEqual(['info@fornecedor.com']);
  });

  it('never creates never-logged addresses or domains', () => {
    const result = addressesToAutoCreate(
      input({
        neverLog: parseNeverLogList(['medico@clinica.com.br', 'bank.com']),
        participants: [
          { role: 'to', address: 'medico@clinica.com.br' },
          { role: 'cc', address: 'gerente@agencia.bank.com' },
          { role: 'cc', address: 'recepcao@clinica.com.br' },
        ],
      }),
    );
    expect(result).toEqual(['recepcao@clinica.com.br']);
  });

  it('creates nothing from received machine mail (lists, newsletters, auto-replies), but judges sent mail by its addresses', () => {
    const participants = [{ role: 'to' as const, address: 'ana@cliente.com.br' }];
    expect(addressesToAutoCreate(input({ machineMessage: true, participants }))).toEqual([]);
    expect(addressesToAutoCreate(input({ direction: 'outgoing', machineMessage: true, participants }))).toEqual([
      'ana@cliente.com.br',
    ]);
  });

  it('returns each address once, lower-cased, in header order, skipping what is not an address', () => {
    const result = addressesToAutoCreate(
      input({
        participants: [
          { role: 'to', address: 'Ana@Cliente.com.br' },
          { role: 'cc', address: 'ana@cliente.com.br' },
          { role: 'bcc', address: ' ANA@cliente.com.br ' },
          { role: 'cc', address: 'undisclosed-recipients' },
          { role: 'cc', address: '' },
          { role: 'cc', address: 'bia@cliente.com.br' },
        ],
      }),
    );
    expect(result).toEqual(['ana@cliente.com.br', 'bia@cliente.com.br']);
  });

  it('end to end: a Google Groups post creates nobody; a direct mail from the author with a colleague in Cc creates the colleague', () => {
    const listHeaders = {
      from: { address: 'vendas-parceiros@googlegroups.com', name: "'Ana Souza' via Vendas Parceiros" },
      replyTo: [{ address: 'ana@cliente.com.br', name: 'Ana Souza' }],
      to: [{ address: 'vendas-parceiros@googlegroups.com', name: null }],
      cc: [{ address: 'bia@cliente.com.br', name: null }],
      bcc: [],
      listId: '<vendas-parceiros.googlegroups.com>',
      originalFrom: { address: 'ana@cliente.com.br', name: 'Ana Souza' },
    };
    const post = computeParticipants(listHeaders);
    expect(
      addressesToAutoCreate(
        input({
          participants: post.participants,
          machineMessage: isMachineMessage({ listId: listHeaders.listId, precedence: 'list' }),
        }),
      ),
    ).toEqual([]);

    const direct = computeParticipants({
      from: { address: 'ana@cliente.com.br', name: 'Ana Souza' },
      replyTo: [],
      to: [{ address: me, name: 'Carlos' }],
      cc: [{ address: 'bia@cliente.com.br', name: 'Bia' }],
      bcc: [],
    });
    expect(
      addressesToAutoCreate(input({ participants: direct.participants, machineMessage: isMachineMessage({}) })),
    ).toEqual(['bia@cliente.com.br']);
  });
});
