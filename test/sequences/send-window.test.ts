// The send window, the daily limit's spread, auto-reply recognition and the unsubscribe page's language: pure
// functions of their inputs and a clock.
import { describe, expect, it } from 'vitest';
import { localDay, nextAllowed, nextInWindow, spacingMs, type SendWindow } from '../../src/sequences/send-window.js';
import { headerFields, isAutoReply } from '../../src/sequences/auto-reply.js';
import { pageLocale, unsubscribePage } from '../../src/sequences/unsubscribe-page.js';

const HOUR = 3_600_000;
const weekdays: SendWindow = { timeZone: 'Europe/Lisbon', days: [1, 2, 3, 4, 5], from: '09:00', to: '17:00' };

describe('send window', () => {
  it('leaves a time inside the window alone and moves others to the next opening, in the zone', () => {
    // Wednesday 2030-07-10, Lisbon is UTC+1 in summer.
    const inside = Date.parse('2030-07-10T10:00:00Z');
    expect(nextInWindow(weekdays, inside)).toBe(inside);
    expect(nextInWindow(weekdays, Date.parse('2030-07-10T06:00:00Z'))).toBe(Date.parse('2030-07-10T08:00:00Z'));
    // After 17:00 local: next morning. "to" is exclusive.
    expect(nextInWindow(weekdays, Date.parse('2030-07-10T16:00:00Z'))).toBe(Date.parse('2030-07-11T08:00:00Z'));
    // Friday evening → Monday 09:00.
    expect(nextInWindow(weekdays, Date.parse('2030-07-12T18:00:00Z'))).toBe(Date.parse('2030-07-15T08:00:00Z'));
    // In winter Lisbon is UTC+0.
    expect(nextInWindow(weekdays, Date.parse('2030-01-12T12:00:00Z'))).toBe(Date.parse('2030-01-14T09:00:00Z'));
    expect(nextInWindow(null, 42)).toBe(42);
  });

  it('knows local days across a DST change', () => {
    // 2030-03-31 is 23 hours long in Lisbon.
    const day = localDay(Date.parse('2030-03-31T12:00:00Z'), 'Europe/Lisbon');
    expect(day.start).toBe(Date.parse('2030-03-31T00:00:00Z'));
    expect(day.end - day.start).toBe(23 * HOUR);
  });

  it('spreads a daily limit through the window and stops at the limit', async () => {
    expect(spacingMs(weekdays, 4)).toBe(2 * HOUR);
    expect(spacingMs(null, 24)).toBe(HOUR);
    expect(spacingMs(weekdays, null)).toBe(0);
    const nine = Date.parse('2030-07-10T08:00:00Z');
    const sends: number[] = [];
    const load = {
      sentToday: async (start: number, end: number) => sends.filter((t) => t >= start && t < end).length,
      lastSendAt: async () => (sends.length ? Math.max(...sends) : null),
    };
    // Four due at nine: they leave at 9, 11, 13 and 15, and a fifth on the next day at nine.
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const at = await nextAllowed(weekdays, 4, nine, load);
      times.push(at);
      sends.push(at);
    }
    expect(times.map((t) => new Date(t).toISOString())).toEqual([
      '2030-07-10T08:00:00.000Z',
      '2030-07-10T10:00:00.000Z',
      '2030-07-10T12:00:00.000Z',
      '2030-07-10T14:00:00.000Z',
      '2030-07-11T08:00:00.000Z',
    ]);
  });
});

describe('auto-replies', () => {
  const headers = (text: string) => headerFields(Buffer.from(`${text}\r\n\r\nbody`));
  it('recognises RFC 3834 and the de-facto headers', () => {
    expect(isAutoReply(headers('Auto-Submitted: auto-replied'), 'Re: hello')).toBe(true);
    expect(isAutoReply(headers('Auto-Submitted: auto-generated'), 'hello')).toBe(true);
    expect(isAutoReply(headers('Auto-Submitted: no'), 'Re: hello')).toBe(false);
    expect(isAutoReply(headers('X-Autoreply: yes'), 'hello')).toBe(true);
    expect(isAutoReply(headers('X-Autorespond: x'), 'hello')).toBe(true);
    expect(isAutoReply(headers('Precedence: auto_reply'), 'hello')).toBe(true);
    expect(isAutoReply(headers('Precedence: bulk'), 'Re: hello')).toBe(false);
    // A folded header is unfolded.
    expect(isAutoReply(headers('Subject: x\r\nAuto-Submitted:\r\n auto-replied'), 'x')).toBe(true);
  });
  it('recognises out-of-office subjects in English and Portuguese, not ordinary replies', () => {
    const none = new Map<string, string[]>();
    for (const subject of [
      'Out of Office: Proposal',
      'Automatic reply: Proposal',
      'Auto-Reply: hi',
      'Resposta automática: Proposta',
      'Ausente: Proposta',
      'Fora do escritório',
      'Férias até dia 10',
    ])
      expect(isAutoReply(none, subject), subject).toBe(true);
    for (const subject of ['Re: Proposal', 'Re: Office chairs', 'Re: Proposta de preço', null])
      expect(isAutoReply(none, subject), String(subject)).toBe(false);
  });
});

describe('unsubscribe page', () => {
  it('speaks Portuguese to a browser that prefers it and English otherwise; names nobody; no scripts', () => {
    expect(pageLocale('pt-BR,pt;q=0.9,en;q=0.8')).toBe('pt-BR');
    expect(pageLocale('en-US,en;q=0.9,pt;q=0.8')).toBe('en');
    expect(pageLocale('fr-FR,pt;q=0.5')).toBe('pt-BR');
    expect(pageLocale(undefined)).toBe('en');
    const ask = unsubscribePage('pt-BR', 'ask');
    expect(ask).toContain('<form method="post">');
    expect(ask).toContain('Cancelar inscrição');
    expect(ask).not.toMatch(/<script/i);
    expect(unsubscribePage('en', 'done')).toContain('You will no longer receive these emails.');
  });
});
