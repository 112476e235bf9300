// Deliverability checks and DKIM signing against a loopback DNS server (test/servers/dns-server.ts): no internet.
// Each test uses its own domain names, so records set by one never answer another.

import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { authenticate } from 'mailauth';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/config-error.js';
import { checkDeliverability, type DeliverabilityInput } from '../../src/mail/send/deliverability.js';
import { loadDkimConfig, signMessage, type DkimConfig } from '../../src/mail/send/dkim.js';
import { createDnsResolver, type DnsResolver } from '../../src/mail/send/dns-resolver.js';
import { startDnsServer, type DnsServer } from '../servers/dns-server.js';
import { startSmtpSink, type SmtpSink } from '../servers/smtp-sink.js';

let dns: DnsServer;
let resolver: DnsResolver;
let tmp: string;

beforeAll(async () => {
  dns = await startDnsServer();
  resolver = createDnsResolver({ servers: dns.servers, timeoutMs: 1_000, tries: 1 });
  tmp = await mkdtemp(join(tmpdir(), 'conversa-dkim-'));
});

afterAll(async () => {
  await dns?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

function rsaKeyPair(bits = 2048): { privatePem: string; dnsRecord: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    dnsRecord: dkimRecord(publicKey),
  };
}

function dkimRecord(publicKey: KeyObject): string {
  return `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;
}

const appKey = rsaKeyPair();

function check(input: Partial<DeliverabilityInput> & { domain: string; smtpHost: string }) {
  return checkDeliverability({ dkimSelector: null, resolver, ...input });
}

/** A domain with everything right for mail sent through smtp.<domain> (127.0.0.1 and ::1). */
function publishGoodDomain(domain: string): void {
  dns.set(`smtp.${domain}`, 'A', ['127.0.0.1']);
  dns.set(`smtp.${domain}`, 'AAAA', ['::1']);
  // Through an include, as most real records are: the server's addresses are in another domain's record.
  dns.set(domain, 'TXT', ['v=spf1 include:_spf.relay.example -all', 'google-site-verification=abc']);
  dns.set('_spf.relay.example', 'TXT', ['v=spf1 ip4:127.0.0.0/24 ip6:::1/128 -all']);
  dns.set(`conversa._domainkey.${domain}`, 'TXT', [appKey.dnsRecord]);
  dns.set(`_dmarc.${domain}`, 'TXT', [`v=DMARC1; p=quarantine; rua=mailto:dmarc@${domain}`]);
}

describe('the DNS resolver', () => {
  it('answers like dns.promises.resolve, with the error codes mailauth reads', async () => {
    dns.set('r.example', 'TXT', ['v=spf1 -all', `long=${'x'.repeat(700)}`]);
    dns.set('r.example', 'MX', ['10 mx1.r.example', '20 mx2.r.example']);
    dns.set('r.example', 'A', ['192.0.2.7']);
    dns.set('alias.r.example', 'CNAME', ['r.example']);
    dns.fail('broken.r.example', 'SERVFAIL');

    const txt = await resolver('r.example', 'TXT');
    // One entry per record, split into 255-byte strings: callers join the chunks.
    expect(txt.map((chunks) => chunks.join(''))).toEqual(['v=spf1 -all', `long=${'x'.repeat(700)}`]);
    expect(txt[1]?.length).toBe(3);
    expect(await resolver('r.example', 'MX')).toEqual(
      expect.arrayContaining([
        { exchange: 'mx1.r.example', priority: 10 },
        { exchange: 'mx2.r.example', priority: 20 },
      ]),
    );
    expect(await resolver('alias.r.example', 'A')).toEqual(['192.0.2.7']);
    await expect(resolver('nothing.r.example', 'TXT')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolver('r.example', 'AAAA')).rejects.toMatchObject({ code: 'ENODATA' });
    await expect(resolver('broken.r.example', 'TXT')).rejects.toMatchObject({ code: 'ESERVFAIL' });
    // The 700-byte TXT answer does not fit a plain UDP reply: the resolver asked again over TCP.
    expect(dns.queries.some((q) => q.name === 'r.example' && q.type === 'TXT' && q.transport === 'tcp')).toBe(true);
  });

  it('refuses a server given by name', () => {
    expect(() => createDnsResolver({ servers: ['dns.example:53'] })).toThrow(/IP addresses/);
  });
});

describe('checkDeliverability', () => {
  it('passes a domain set up right: SPF authorises every address of the server, DKIM key published, DMARC quarantine', async () => {
    publishGoodDomain('good.example');
    const report = await check({ domain: 'Good.Example', smtpHost: 'smtp.good.example', dkimSelector: 'conversa' });
    expect(report).toEqual({
      domain: 'good.example',
      spf: { status: 'pass', record: 'v=spf1 include:_spf.relay.example -all' },
      dkim: { status: 'pass', selector: 'conversa', record: appKey.dnsRecord },
      dmarc: { status: 'pass', record: 'v=DMARC1; p=quarantine; rua=mailto:dmarc@good.example', policy: 'quarantine' },
    });
  });

  it('takes an SMTP host given as an IP address, or the addresses the caller knows', async () => {
    publishGoodDomain('good-ip.example');
    expect((await check({ domain: 'good-ip.example', smtpHost: '127.0.0.1' })).spf.status).toBe('pass');
    const behindNat = await check({
      domain: 'good-ip.example',
      smtpHost: 'smtp.good-ip.example',
      smtpIps: ['192.0.2.99'],
    });
    expect(behindNat.spf).toMatchObject({ status: 'fail', fix: expect.stringContaining('"ip4:192.0.2.99"') });
  });

  it('finds no SPF record and says which one to add', async () => {
    dns.set('smtp.nospf.example', 'A', ['127.0.0.1']);
    dns.set('nospf.example', 'TXT', ['some-other=verification']);
    const { spf } = await check({ domain: 'nospf.example', smtpHost: 'smtp.nospf.example' });
    expect(spf.status).toBe('missing');
    expect(spf.record).toBeUndefined();
    expect(spf.fix).toContain('Add a TXT record to nospf.example with the value: v=spf1 ip4:127.0.0.1 ~all');
  });

  it('fails SPF that does not include the server and shows the record to publish', async () => {
    dns.set('smtp.other.example', 'A', ['127.0.0.1']);
    dns.set('wrongspf.example', 'TXT', ['v=spf1 ip4:192.0.2.10 mx ~all']);
    const { spf } = await check({ domain: 'wrongspf.example', smtpHost: 'smtp.other.example' });
    expect(spf).toEqual({
      status: 'fail',
      record: 'v=spf1 ip4:192.0.2.10 mx ~all',
      fix: 'Add "ip4:127.0.0.1" to the SPF record of wrongspf.example (before the "all" at its end), so it reads: v=spf1 ip4:192.0.2.10 mx ip4:127.0.0.1 ~all',
      // The same fix as a code and parameters, for the web app to say it in the user's language.
      fixCode: 'DELIV_SPF_NOT_AUTHORISED',
      fixParams: {
        domain: 'wrongspf.example',
        terms: 'ip4:127.0.0.1',
        record: 'v=spf1 ip4:192.0.2.10 mx ip4:127.0.0.1 ~all',
      },
    });
  });

  it("fails when only some of the server's addresses are authorised, naming the missing ones", async () => {
    dns.set('smtp.half.example', 'A', ['127.0.0.1']);
    dns.set('smtp.half.example', 'AAAA', ['2001:db8::25']);
    dns.set('half.example', 'TXT', ['v=spf1 ip4:127.0.0.1 -all']);
    const { spf } = await check({ domain: 'half.example', smtpHost: 'smtp.half.example' });
    expect(spf.status).toBe('fail');
    expect(spf.fix).toContain('Add "ip6:2001:db8::25" to the SPF record of half.example');
    expect(spf.fix).not.toContain('ip4:127.0.0.1"');
  });

  it("names the provider's SPF include and DKIM set-up for a Google server", async () => {
    // Google's names answered by the test DNS: nothing leaves the machine.
    dns.set('smtp.gmail.com', 'A', ['127.0.0.5']);
    dns.set('gw.example', 'TXT', ['v=spf1 mx ~all']);
    const report = await check({ domain: 'gw.example', smtpHost: 'smtp.gmail.com' });
    expect(report.spf.status).toBe('fail');
    expect(report.spf.fix).toContain('Add "include:_spf.google.com" to the SPF record of gw.example');
    expect(report.spf.fix).toContain('v=spf1 mx include:_spf.google.com ~all');
    // No selector given: Google's is tried first; none published → unknown, with Google's own steps.
    expect(report.dkim.status).toBe('unknown');
    expect(report.dkim.fix).toContain('google, default');
    expect(report.dkim.fix).toContain('Google Admin console');
    expect(dns.queries.some((q) => q.name === 'google._domainkey.gw.example')).toBe(true);

    dns.set('google._domainkey.gw.example', 'TXT', [rsaKeyPair().dnsRecord]);
    const again = await check({ domain: 'gw.example', smtpHost: 'smtp.gmail.com' });
    expect(again.dkim).toMatchObject({ status: 'pass', selector: 'google' });
  });

  it('passes a Microsoft 365 domain whose DKIM keys are CNAMEs to the tenant', async () => {
    dns.set('smtp.office365.com', 'A', ['127.0.0.9']);
    dns.set('spf.protection.outlook.com', 'TXT', ['v=spf1 ip4:127.0.0.0/24 -all']);
    dns.set('ms.example', 'TXT', ['v=spf1 include:spf.protection.outlook.com -all']);
    dns.set('selector1._domainkey.ms.example', 'CNAME', ['selector1-ms-example._domainkey.tenant.onmicrosoft.com']);
    dns.set('selector1-ms-example._domainkey.tenant.onmicrosoft.com', 'TXT', [appKey.dnsRecord]);
    dns.set('_dmarc.ms.example', 'TXT', ['v=DMARC1; p=reject']);
    const report = await check({ domain: 'ms.example', smtpHost: 'smtp.office365.com' });
    expect(report.spf.status).toBe('pass');
    expect(report.dkim).toMatchObject({ status: 'pass', selector: 'selector1' });
    expect(report.dmarc).toMatchObject({ status: 'pass', policy: 'reject' });
  });

  it('reports a missing, revoked, short or damaged DKIM key with what to do', async () => {
    const domain = 'dkim.example';
    const missing = await check({ domain, smtpHost: '127.0.0.1', dkimSelector: 'conversa' });
    expect(missing.dkim).toEqual({
      status: 'missing',
      selector: 'conversa',
      fix: expect.stringContaining('No DKIM key is published at conversa._domainkey.dkim.example.'),
      // The setup text inside it is named by its own code, its parameters taken along.
      fixCode: 'DELIV_DKIM_MISSING',
      fixParams: {
        recordName: 'conversa._domainkey.dkim.example',
        setup: 'DELIV_DKIM_SETUP_GENERIC',
        setupRecordName: 'conversa._domainkey.dkim.example',
      },
    });

    const viaCname = await check({
      domain,
      smtpHost: '127.0.0.1',
      dkimSelector: 'conversa',
      dkimKeyTarget: 'conversa._domainkey.relay.example',
    });
    expect(viaCname.dkim.fix).toContain(
      'Add a CNAME record conversa._domainkey.dkim.example pointing to conversa._domainkey.relay.example',
    );

    dns.set(`revoked._domainkey.${domain}`, 'TXT', ['v=DKIM1; k=rsa; p=']);
    expect((await check({ domain, smtpHost: '127.0.0.1', dkimSelector: 'revoked' })).dkim).toMatchObject({
      status: 'error',
      fix: expect.stringContaining('revoked'),
    });

    dns.set(`short._domainkey.${domain}`, 'TXT', [rsaKeyPair(512).dnsRecord]);
    const short = (await check({ domain, smtpHost: '127.0.0.1', dkimSelector: 'short' })).dkim;
    expect(short.fix).toContain('only 512 bits');
    expect(short).toMatchObject({
      fixCode: 'DELIV_DKIM_INVALID',
      fixParams: { reason: 'DELIV_DKIM_SHORT_KEY', bits: 512 },
    });

    const damaged = appKey.dnsRecord.slice(0, -40) + appKey.dnsRecord.slice(-20);
    dns.set(`damaged._domainkey.${domain}`, 'TXT', [damaged]);
    expect((await check({ domain, smtpHost: '127.0.0.1', dkimSelector: 'damaged' })).dkim).toMatchObject({
      status: 'error',
      record: damaged,
      fix: expect.stringContaining('damaged'),
    });
  });

  it('calls DMARC p=none weak and a missing record missing', async () => {
    dns.set('_dmarc.weak.example', 'TXT', ['v=DMARC1; p=none; rua=mailto:r@weak.example']);
    const weak = await check({ domain: 'weak.example', smtpHost: '127.0.0.1' });
    expect(weak.dmarc).toEqual({
      status: 'weak',
      record: 'v=DMARC1; p=none; rua=mailto:r@weak.example',
      policy: 'none',
      fix: expect.stringMatching(/"p=none".*change it to "p=quarantine".*_dmarc\.weak\.example/),
      fixCode: 'DELIV_DMARC_WEAK',
      fixParams: { recordName: '_dmarc.weak.example', policy: 'none' },
    });

    const none = await check({ domain: 'nodmarc.example', smtpHost: '127.0.0.1' });
    expect(none.dmarc).toEqual({
      status: 'missing',
      fix: expect.stringContaining('Add a TXT record at _dmarc.nodmarc.example with the value: v=DMARC1; p=quarantine'),
      fixCode: 'DELIV_DMARC_MISSING',
      fixParams: {
        recordName: '_dmarc.nodmarc.example',
        record: 'v=DMARC1; p=quarantine; rua=mailto:postmaster@nodmarc.example',
      },
    });
  });

  it("applies the organisational domain's DMARC record to a subdomain, with its sp= policy", async () => {
    dns.set('_dmarc.acme.example', 'TXT', ['v=DMARC1; p=reject; sp=none']);
    const report = await check({ domain: 'news.acme.example', smtpHost: '127.0.0.1' });
    expect(report.dmarc).toMatchObject({
      status: 'weak',
      policy: 'none',
      fix: expect.stringContaining('_dmarc.acme.example'),
    });
  });

  it('sums up a domain set up wrong in every part', async () => {
    dns.set('smtp.wrong.example', 'A', ['127.0.0.1']);
    dns.set('wrong.example', 'TXT', ['v=spf1 ip4:192.0.2.1 -all']);
    dns.set('_dmarc.wrong.example', 'TXT', ['v=DMARC1; p=none']);
    const report = await check({ domain: 'wrong.example', smtpHost: 'smtp.wrong.example', dkimSelector: 'conversa' });
    expect([report.spf.status, report.dkim.status, report.dmarc.status]).toEqual(['fail', 'missing', 'weak']);
    for (const part of [report.spf, report.dkim, report.dmarc]) expect(part.fix).toEqual(expect.any(String));
  });

  it('turns DNS trouble and broken records into error statuses, not exceptions', async () => {
    dns.set('two.example', 'TXT', ['v=spf1 ip4:127.0.0.1 -all', 'v=spf1 include:_spf.google.com ~all']);
    expect((await check({ domain: 'two.example', smtpHost: '127.0.0.1' })).spf).toMatchObject({
      status: 'error',
      fix: expect.stringContaining('has 2 SPF records'),
    });

    dns.set('loop.example', 'TXT', ['v=spf1 include:loop.example -all']);
    expect((await check({ domain: 'loop.example', smtpHost: '127.0.0.1' })).spf).toMatchObject({
      status: 'error',
      fix: expect.stringContaining('more than 10 DNS lookups'),
      fixCode: 'DELIV_SPF_BROKEN',
      fixParams: { domain: 'loop.example', reason: 'DELIV_SPF_TOO_MANY_LOOKUPS' },
    });

    dns.fail('down.example', 'SERVFAIL');
    dns.fail('_dmarc.down.example', 'SERVFAIL');
    dns.fail('conversa._domainkey.down.example', 'SERVFAIL');
    const down = await check({ domain: 'down.example', smtpHost: '127.0.0.1', dkimSelector: 'conversa' });
    expect([down.spf.status, down.dkim.status, down.dmarc.status]).toEqual(['error', 'error', 'error']);
    expect(down.spf.fix).toContain('could not be read just now');

    const unknownHost = await check({ domain: 'good.example', smtpHost: 'smtp.nowhere.example' });
    expect(unknownHost.spf).toEqual({
      status: 'error',
      fix: expect.stringContaining('smtp.nowhere.example was not found'),
      fixCode: 'DELIV_SPF_HOST_NOT_FOUND',
      fixParams: { host: 'smtp.nowhere.example' },
    });
  });

  it('stops when its signal aborts, even while a name server is silent', async () => {
    dns.fail('silent.example', 'TIMEOUT');
    dns.fail('_dmarc.silent.example', 'TIMEOUT');
    const slowResolver = createDnsResolver({ servers: dns.servers, timeoutMs: 5_000, tries: 1 });
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 50);
    await expect(
      checkDeliverability({
        domain: 'silent.example',
        smtpHost: '127.0.0.1',
        dkimSelector: null,
        resolver: slowResolver,
        signal: controller.signal,
      }),
    ).rejects.toMatchObject({ name: 'AbortError' });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('rejects something that is not a domain name', async () => {
    await expect(check({ domain: 'not a domain', smtpHost: '127.0.0.1' })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
  });
});

describe('DKIM signing', () => {
  const from = 'rep@signed.example';
  const config: DkimConfig = { domainName: 'signed.example', keySelector: 'conversa', privateKey: appKey.privatePem };

  beforeAll(() => {
    dns.set('signed.example', 'TXT', ['v=spf1 ip4:127.0.0.1 -all']);
    dns.set('conversa._domainkey.signed.example', 'TXT', [appKey.dnsRecord]);
    dns.set('_dmarc.signed.example', 'TXT', ['v=DMARC1; p=reject']);
  });

  function rawMessage(body = 'Hello from the CRM.'): Buffer {
    const headers = [
      `From: Rep <${from}>`,
      'To: Client <client@customer.example>',
      'Subject: Proposal',
      `Date: ${new Date().toUTCString()}`,
      'Message-ID: <p1@signed.example>',
      'Content-Type: text/plain; charset=utf-8',
    ];
    return Buffer.from(`${headers.join('\r\n')}\r\n\r\n${body}\r\n`);
  }

  async function verify(raw: Buffer) {
    return authenticate(raw, {
      ip: '127.0.0.1',
      helo: 'relay.signed.example',
      sender: from,
      mta: 'mx.customer.example',
      resolver,
      disableArc: true,
      disableBimi: true,
    });
  }

  it('signMessage makes a signature that mailauth verifies against the test DNS, and a changed body breaks it', async () => {
    const signed = await signMessage(rawMessage(), config);
    expect(signed.toString('latin1')).toMatch(/^DKIM-Signature: .*d=signed\.example;/s);
    const result = await verify(signed);
    expect(result.dkim.results).toHaveLength(1);
    expect(result.dkim.results[0]).toMatchObject({
      signingDomain: 'signed.example',
      selector: 'conversa',
      status: { result: 'pass', aligned: 'signed.example' },
    });
    expect(result.spf && result.spf.status.result).toBe('pass');
    expect(result.dmarc && result.dmarc.status.result).toBe('pass');

    const tampered = Buffer.from(
      signed.toString('latin1').replace('Hello from the CRM.', 'Pay to this account.'),
      'latin1',
    );
    // mailauth reports a body that no longer matches its hash as "neutral" (RFC 6376 §6.3 says either fails).
    expect((await verify(tampered)).dkim.results[0]?.status).toMatchObject({
      result: 'neutral',
      comment: 'body hash did not verify',
    });
  });

  it('the app relay signs with DKIM (nodemailer `dkim` option) and the signature verifies (mailauth) against the test DNS', async () => {
    const sink: SmtpSink = await startSmtpSink(join(tmp, 'sink'));
    try {
      const transport = nodemailer.createTransport({
        host: sink.host,
        port: sink.port,
        secure: false,
        ignoreTLS: true,
        dkim: config,
      });
      await transport.sendMail({
        from,
        to: 'client@customer.example',
        subject: 'Proposal',
        text: 'Hello from the CRM.',
      });
      // The outbox sends stored bytes as `raw`: those are signed on the way out too.
      await transport.sendMail({ envelope: { from, to: ['client@customer.example'] }, raw: rawMessage('Sent raw.') });
      transport.close();
      const received = await sink.waitFor(() => sink.messages.length >= 2);
      expect(received).toBeDefined();
      for (const message of sink.messages) {
        const result = await verify(message.raw);
        expect(result.dkim.results[0]).toMatchObject({ signingDomain: 'signed.example', status: { result: 'pass' } });
        expect(result.dmarc && result.dmarc.status.result).toBe('pass');
      }
    } finally {
      await sink.close();
    }
  });

  it('rejects a key that does not match the published one', async () => {
    const other = rsaKeyPair();
    const signed = await signMessage(rawMessage(), { ...config, privateKey: other.privatePem });
    expect((await verify(signed)).dkim.results[0]?.status.result).toBe('fail');
  });
});

describe('loadDkimConfig', () => {
  it('is null when nothing is set, and reads the key inline, with \\n escapes, or from a file', async () => {
    expect(loadDkimConfig({})).toBeNull();
    const env = { DKIM_DOMAIN: 'Relay.Example', DKIM_SELECTOR: 'conversa' };
    expect(loadDkimConfig({ ...env, DKIM_PRIVATE_KEY: appKey.privatePem })).toEqual({
      domainName: 'relay.example',
      keySelector: 'conversa',
      privateKey: appKey.privatePem,
    });
    const oneLine = appKey.privatePem.replace(/\n/g, '\\n');
    expect(loadDkimConfig({ ...env, DKIM_PRIVATE_KEY: oneLine })?.privateKey).toBe(appKey.privatePem);
    const file = join(tmp, 'dkim.pem');
    await writeFile(file, appKey.privatePem);
    expect(loadDkimConfig({ ...env, DKIM_PRIVATE_KEY_FILE: file })?.privateKey).toBe(appKey.privatePem);
  });

  it('stops the start on a half or unusable set-up', () => {
    const env = { DKIM_DOMAIN: 'relay.example', DKIM_SELECTOR: 'conversa' };
    expect(() => loadDkimConfig({ DKIM_DOMAIN: 'relay.example' })).toThrow(ConfigError);
    expect(() => loadDkimConfig({ DKIM_DOMAIN: 'relay.example' })).toThrow(
      /DKIM_SELECTOR, DKIM_PRIVATE_KEY or DKIM_PRIVATE_KEY_FILE missing/,
    );
    expect(() => loadDkimConfig({ ...env, DKIM_PRIVATE_KEY: 'not a key' })).toThrow(/not a PEM private key/);
    expect(() => loadDkimConfig({ ...env, DKIM_PRIVATE_KEY_FILE: join(tmp, 'absent.pem') })).toThrow(/cannot be read/);
    const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    expect(() => loadDkimConfig({ ...env, DKIM_PRIVATE_KEY: ed })).toThrow(/must be an RSA key/);
    expect(() =>
      loadDkimConfig({ ...env, DKIM_SELECTOR: 'bad selector', DKIM_PRIVATE_KEY: appKey.privatePem }),
    ).toThrow(/DKIM_SELECTOR/);
  });
});
