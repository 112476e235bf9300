import { describe, expect, it } from 'vitest';
import { isNeverLogged, parseNeverLogList } from '../../../src/mail/rules/never-log.js';

describe('parseNeverLogList', () => {
  it('reads addresses and every domain form as one domain', () => {
    const list = parseNeverLogList([
      'Boss@X.com',
      '@bank.com',
      'clinica.com.br',
      '*.advocacia.adv.br',
      '*@seguros.com',
      '.corretora.com',
    ]);
    expect([...list.addresses]).toEqual(['boss@x.com']);
    expect([...list.domains]).toEqual([
      'bank.com',
      'clinica.com.br',
      'advocacia.adv.br',
      'seguros.com',
      'corretora.com',
    ]);
    expect(list.invalid).toEqual([]);
  });

  it('accepts mailto: and "Name <address>" forms, trims, skips blanks and # comments', () => {
    const list = parseNeverLogList([
      '  mailto:medico@clinica.com.br ',
      'Dr. Paulo <paulo@clinica.com.br>',
      '',
      '   ',
      '# my bank',
      '<@banco.com.br>',
    ]);
    expect([...list.addresses]).toEqual(['medico@clinica.com.br', 'paulo@clinica.com.br']);
    expect([...list.domains]).toEqual(['banco.com.br']);
    expect(list.invalid).toEqual([]);
  });

  it('stores internationalised domains in ASCII', () => {
    const list = parseNeverLogList(['bücher.de', 'ana@médico.com.br', 'Bank.COM.']);
    expect([...list.domains]).toEqual(['xn--bcher-kva.de', 'bank.com']);
    expect([...list.addresses]).toEqual(['ana@xn--mdico-bsa.com.br']);
  });

  it('rejects single labels, registry suffixes and malformed entries, and reports them as written', () => {
    const entries = [
      'com',
      '@com.br',
      '*.co.uk',
      'not an entry',
      'a@b@',
      '*@',
      '*boss@x.com',
      'bad_domain!.com',
      '-x.com',
      '@',
    ];
    const list = parseNeverLogList(entries);
    expect(list.addresses.size).toBe(0);
    expect(list.domains.size).toBe(0);
    expect(list.invalid).toEqual(entries);
  });

  it('removes repeats', () => {
    const list = parseNeverLogList(['bank.com', '@BANK.com', 'boss@x.com', 'BOSS@x.com']);
    expect(list.domains.size).toBe(1);
    expect(list.addresses.size).toBe(1);
  });
});

describe('isNeverLogged', () => {
  const list = parseNeverLogList([
    'boss@empresa.com.br',
    'bank.com',
    '@clinica.com.br',
    '*.advocacia.adv.br',
    'bücher.de',
  ]);

  it('matches a listed address, whatever its case, and its +tagged forms', () => {
    expect(isNeverLogged('boss@empresa.com.br', list)).toBe(true);
    expect(isNeverLogged(' Boss@Empresa.com.BR ', list)).toBe(true);
    expect(isNeverLogged('boss+pessoal@empresa.com.br', list)).toBe(true);
    expect(isNeverLogged('colega@empresa.com.br', list)).toBe(false);
    expect(isNeverLogged('boss@empresa.com', list)).toBe(false);
  });

  it('matches a listed domain and every subdomain of it, whichever form the entry had', () => {
    expect(isNeverLogged('gerente@bank.com', list)).toBe(true);
    expect(isNeverLogged('alerts@mail.bank.com', list)).toBe(true);
    expect(isNeverLogged('x@a.b.bank.com', list)).toBe(true);
    expect(isNeverLogged('dr@clinica.com.br', list)).toBe(true);
    expect(isNeverLogged('dr@agenda.clinica.com.br', list)).toBe(true);
    // "*.advocacia.adv.br" covers the domain itself too.
    expect(isNeverLogged('socio@advocacia.adv.br', list)).toBe(true);
    expect(isNeverLogged('socio@sp.advocacia.adv.br', list)).toBe(true);
  });

  it('does not match look-alikes: another domain ending in the same letters, or a longer domain', () => {
    expect(isNeverLogged('x@notbank.com', list)).toBe(false);
    expect(isNeverLogged('x@bank.com.br', list)).toBe(false);
    expect(isNeverLogged('x@bank.co', list)).toBe(false);
    expect(isNeverLogged('x@clinica.com', list)).toBe(false);
  });

  it('compares internationalised domains in either spelling', () => {
    expect(isNeverLogged('verlag@bücher.de', list)).toBe(true);
    expect(isNeverLogged('verlag@xn--bcher-kva.de', list)).toBe(true);
    expect(isNeverLogged('verlag@shop.BÜCHER.de', list)).toBe(true);
  });

  it('is false for what is not an address, and for an empty list', () => {
    expect(isNeverLogged('', list)).toBe(false);
    expect(isNeverLogged('bank.com', list)).toBe(false);
    expect(isNeverLogged('gerente@bank.com', parseNeverLogList([]))).toBe(false);
  });

  it('accepts a list built by hand from stored values', () => {
    expect(isNeverLogged('x@sub.bank.com', { addresses: new Set(), domains: new Set(['bank.com']) })).toBe(true);
  });
});
