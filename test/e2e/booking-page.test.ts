// The public booking page end to end, in Debian's Chromium driven by playwright-core, against an in-process
// Conversa, the suite's Dovecot (invitations) and Radicale (the owner's calendar): a visitor with no session books
// a time shown in their own time zone, sees the confirmation with the manage link, and cancels through it; in
// English on a desktop-sized window and in Brazilian Portuguese on a phone-sized one, with the language switch.
// Screenshots go to test-artifacts/screenshots/ (booking-*.png).
//
// Needs the built web app (dist/web: `npm run build`) and /usr/bin/chromium.
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { useDovecot, useRadicale } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';
import { CHROMIUM, CHROMIUM_ARGS, WAIT_MS, WEB_INDEX, shows } from '../support/chromium.js';

const dovecot = useDovecot();
const radicale = useRadicale();

const SCREENSHOTS = fileURLToPath(new URL('../../test-artifacts/screenshots/', import.meta.url));
const ALL_WEEK = Object.fromEntries(['1', '2', '3', '4', '5', '6', '7'].map((d) => [d, [['09:00', '17:00']]]));

describe('the booking page in Chromium', () => {
  let conversa: TestConversa;
  let browser: Browser;
  let slug: string;
  let ownerEmail: string;
  const problems: string[] = [];

  const shoot = async (page: Page, name: string) => {
    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });
  };

  async function visitor(locale: string, viewport: { width: number; height: number }): Promise<Page> {
    const context = await browser.newContext({ locale, viewport, timezoneId: 'America/Sao_Paulo' });
    context.setDefaultTimeout(WAIT_MS);
    const page = await context.newPage();
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    return page;
  }

  /** Picks the first free time, fills the form, books; answers the time's ISO start. */
  async function book(page: Page, labels: { name: string; email: string; submit: string }): Promise<string> {
    const first = page.locator('.booking-times button').first();
    await shows(first);
    const start = (await first.getAttribute('data-start'))!;
    await first.click();
    await page.getByLabel(labels.name).fill('Visitante Teste');
    await page.getByLabel(labels.email).fill(`visitor-${randomBytes(3).toString('hex')}@client.test`);
    await page.getByRole('button', { name: labels.submit }).click();
    return start;
  }

  beforeAll(async () => {
    if (!fs.existsSync(WEB_INDEX))
      throw new Error(`The web app is not built (${WEB_INDEX} is missing): run \`npm run build\` first.`);
    if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM}`);
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    conversa = await startTestConversa({}, undefined, { calendarIntervalMs: 60_000 });
    const owner = await conversa.addUser({ displayName: 'Olivia Owner' });
    ownerEmail = owner.email;
    const creds = await dovecot.addUser();
    const rc = await radicale.addUser({ user: creds.user, password: creds.password });
    const mk = await fetch(`${radicale.principalUrl(creds.user)}work/`, {
      method: 'MKCALENDAR',
      headers: { Authorization: radicale.authHeader(rc) },
    });
    await mk.arrayBuffer();
    const account = await conversa.api(
      'POST',
      '/api/email-accounts',
      dovecotAccountBody(dovecot, creds, { caldavUrl: radicale.principalUrl(creds.user) }),
      owner.token,
    );
    expect(account.status, account.text).toBe(201);
    await waitFor(
      'calendar synced',
      async () => {
        const h = (await conversa.api('GET', `/api/email-accounts/${account.body.id}/calendar`, undefined, owner.token))
          .body;
        return h?.status === 'active' ? h : false;
      },
      30_000,
      100,
    );
    slug = `olivia-${randomBytes(3).toString('hex')}`;
    const page = await conversa.api(
      'POST',
      '/api/booking-pages',
      {
        slug,
        title: 'Intro call',
        durationMinutes: 30,
        accountId: account.body.id,
        timeZone: 'Europe/Lisbon',
        hours: ALL_WEEK,
        minNoticeMinutes: 60,
        horizonDays: 30,
      },
      owner.token,
    );
    expect(page.status, page.text).toBe(201);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await conversa?.stop();
  });

  it('books, confirms and cancels through the manage link, in English on a desktop window', async () => {
    const page = await visitor('en-US', { width: 1280, height: 860 });
    await page.goto(`${conversa.url}/book/${slug}`);
    await shows(page.getByRole('heading', { level: 1, name: 'Intro call' }));
    await shows(page.getByText('with Olivia Owner'));
    await shows(page.getByText('Times are shown in your time zone: America/Sao_Paulo.'));
    await shows(page.locator('.booking-times button').first());
    await shoot(page, 'booking-page.en');
    const start = await book(page, { name: 'Your name', email: 'Your e-mail', submit: 'Book this time' });
    await shows(page.getByRole('heading', { name: 'You are booked' }));
    // The time is the visitor's (São Paulo, UTC−3), written out in English.
    const shown = new Intl.DateTimeFormat('en-US', {
      dateStyle: 'full',
      timeStyle: 'short',
      timeZone: 'America/Sao_Paulo',
    }).format(new Date(start));
    await shows(page.getByText(shown, { exact: false }));
    await shoot(page, 'booking-confirmed.en');

    await page.getByRole('link', { name: 'Manage this booking' }).click();
    await shows(page.getByRole('heading', { name: 'Your booking' }));
    await shows(page.getByText(`Confirmed for ${shown}`));
    await page.getByRole('button', { name: 'Cancel the booking' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Cancel the booking' }).click();
    await shows(page.getByText('The booking is cancelled. A cancellation was sent by e-mail.'));
    await expect.poll(() => page.getByTestId('manage-booking').getAttribute('data-state')).toBe('cancelled');
    await shoot(page, 'booking-cancelled.en');
    // The slot is offered again.
    const token = new URL(page.url()).pathname.split('/').pop()!;
    const managed = (await (await fetch(`${conversa.url}/api/public/bookings/${token}`)).json()) as { state: string };
    expect(managed.state).toBe('cancelled');
    await page.context().close();
  }, 60_000);

  it('books and cancels in Brazilian Portuguese on a phone-sized screen, and switches language', async () => {
    const page = await visitor('pt-BR', { width: 390, height: 844 });
    await page.goto(`${conversa.url}/book/${slug}`);
    await shows(page.getByRole('heading', { level: 2, name: 'Escolha um horário' }));
    await shows(page.locator('.booking-times button').first());
    // One column: nothing wider than the phone's screen.
    const width = await page.evaluate('document.documentElement.scrollWidth');
    expect(width).toBeLessThanOrEqual(390);
    await shoot(page, 'booking-page.pt-BR.phone');
    await book(page, { name: 'Seu nome', email: 'Seu e-mail', submit: 'Agendar este horário' });
    await shows(page.getByRole('heading', { name: 'Agendamento confirmado' }));
    await shoot(page, 'booking-confirmed.pt-BR.phone');
    await page.getByRole('link', { name: 'Gerenciar este agendamento' }).click();
    await shows(page.getByRole('heading', { name: 'Seu agendamento' }));
    await page.getByRole('button', { name: 'Cancelar o agendamento' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Cancelar o agendamento' }).click();
    await shows(page.getByText('O agendamento foi cancelado.', { exact: false }));
    await shoot(page, 'booking-cancelled.pt-BR.phone');
    // The switch: the same page in English.
    await page.goto(`${conversa.url}/book/${slug}`);
    await shows(page.getByRole('heading', { level: 2, name: 'Escolha um horário' }));
    await page.getByLabel('Idioma').selectOption('en');
    await shows(page.getByRole('heading', { level: 2, name: 'Choose a time' }));
    await shoot(page, 'booking-page.en.phone');
    // An unknown page says so, in the visitor's language.
    await page.goto(`${conversa.url}/book/no-such-page-here`);
    await shows(page.getByRole('heading', { name: 'Esta página de agendamento não existe' }));
    await page.context().close();
    // The only console errors are the API's 404 for the unknown page.
    expect(problems.filter((p) => !/status of (404|409)/.test(p))).toEqual([]);
  }, 60_000);

  it('Settings › Booking pages: the owner creates a page through the form and copies its link', async () => {
    const page = await visitor('en-US', { width: 1280, height: 860 });
    await page.goto(`${conversa.url}/settings/booking`);
    await page.getByLabel('Email').fill(ownerEmail);
    await page.getByLabel('Password', { exact: true }).fill('crm user password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await shows(page.getByRole('heading', { level: 1, name: 'Booking pages' }));
    await shows(page.locator(`[data-slug="${slug}"]`));
    await page.getByRole('button', { name: 'New booking page' }).click();
    const form = page.getByTestId('booking-page-form');
    await form.getByLabel('Title').fill('Demo');
    const second = `demo-${randomBytes(3).toString('hex')}`;
    await form.getByLabel('Address (PUBLIC_URL/book/…)').fill(second);
    // A taken address is refused with its code's text.
    await form.getByLabel('Address (PUBLIC_URL/book/…)').fill(slug);
    await form.getByRole('button', { name: 'Create page' }).click();
    await shows(page.getByText('This page address is already taken'));
    await form.getByLabel('Address (PUBLIC_URL/book/…)').fill(second);
    await form.getByRole('button', { name: 'Create page' }).click();
    await shows(page.locator(`[data-slug="${second}"]`));
    await shows(page.getByRole('link', { name: `${conversa.url}/book/${second}` }));
    await shoot(page, 'booking-settings.en');
    const listed = await conversa.api('GET', `/api/public/booking/${second}`);
    expect(listed.status).toBe(200);
    await page.context().close();
  }, 60_000);
});
