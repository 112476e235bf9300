// GET /api/email-accounts/:id/deliverability end to end: a real account on Dovecot, DNS answered by the local
// test DNS server, for a sender domain set up right and then wrong.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDnsServer, type DnsServer } from '../servers/dns-server.js';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { useDovecot } from '../support/servers.js';

const dovecot = useDovecot();

describe('the deliverability report of an account', () => {
  let dns: DnsServer;
  let conversa: TestConversa;
  let accountId: string;
  let domain: string;

  beforeAll(async () => {
    dns = await startDnsServer();
    conversa = await startTestConversa({ CONVERSA_DNS_SERVERS: dns.servers.join(',') });
    const creds = await dovecot.addUser();
    domain = creds.user.split('@')[1]!;
    const res = await conversa.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, creds));
    expect(res.status).toBe(201);
    accountId = res.body.id;
  });
  afterAll(async () => {
    await conversa?.stop();
    await dns?.stop();
  });

  it('passes SPF and DMARC for a domain that authorises the account SMTP server', async () => {
    dns.clear();
    dns.set(domain, 'TXT', [`v=spf1 ip4:${dovecot.host} -all`]);
    dns.set(`_dmarc.${domain}`, 'TXT', ['v=DMARC1; p=reject']);
    const res = await conversa.api('GET', `/api/email-accounts/${accountId}/deliverability`);
    expect(res.status, res.text).toBe(200);
    expect(res.body.domain).toBe(domain);
    expect(res.body.spf.status).toBe('pass');
    expect(res.body.dmarc.status).toBe('pass');
    // No selector is known for a plain IMAP server and none of the usual ones is published.
    expect(['unknown', 'missing']).toContain(res.body.dkim.status);
  });

  it('fails, with the fix in plain words, for a domain that does not', async () => {
    dns.clear();
    dns.set(domain, 'TXT', ['v=spf1 ip4:192.0.2.10 -all']);
    dns.set(`_dmarc.${domain}`, 'TXT', ['v=DMARC1; p=none']);
    const res = await conversa.api('GET', `/api/email-accounts/${accountId}/deliverability`);
    expect(res.status).toBe(200);
    expect(res.body.spf.status).toBe('fail');
    expect(res.body.spf.fix).toContain(`ip4:${dovecot.host}`);
    expect(res.body.dmarc.status).toBe('weak');
    expect(res.body.dmarc.fix).toBeTruthy();
  });

  it('says what is missing when nothing is published', async () => {
    dns.clear();
    const res = await conversa.api('GET', `/api/email-accounts/${accountId}/deliverability`);
    expect(res.body.spf.status).toBe('missing');
    expect(res.body.dmarc.status).toBe('missing');
    expect(res.body.spf.fix).toMatch(/SPF/);
  });
});
