import { describe, expect, it } from 'vitest';
import { isMachineAddress, isMachineMessage } from '../../../src/mail/rules/machine-senders.js';

describe('isMachineAddress', () => {
  const machines: Array<[string, string]> = [
    ['noreply@github.com', 'no-reply'],
    ['no-reply@accounts.google.com', 'no-reply'],
    ['NoReply@Microsoft.com', 'case'],
    ['no_reply@empresa.com.br', 'no-reply'],
    ['do-not-reply@example.com', 'do-not-reply'],
    ['donotreply@example.com', 'do-not-reply'],
    ['do_not_reply@example.com', 'do-not-reply'],
    ['dont-reply@example.com', 'dont-reply'],
    ['comments-noreply@docs.google.com', 'no-reply after a word'],
    ['drive-shares-dm-noreply@google.com', 'no-reply after words'],
    ['messages-noreply@linkedin.com', 'no-reply after a word'],
    ['noreply2fa@example.com', 'no-reply with letters glued on'],
    ['noreply-12345@example.com', 'no-reply with a number'],
    ['naoresponda@bancodobrasil.com.br', 'pt: não responda'],
    ['nao-responda@nubank.com.br', 'pt'],
    ['nao_responder@gov.br', 'pt'],
    ['no-responder@empresa.es', 'es'],
    ['ne-pas-repondre@impots.gouv.fr', 'fr'],
    ['MAILER-DAEMON@mx.example.com', 'mailer-daemon (corpus dsn-*)'],
    ['mailer-daemon@googlemail.com', 'mailer-daemon'],
    ['postmaster@example.com', 'postmaster'],
    ['bounce@example.com', 'bounce'],
    ['bounces@example.com', 'bounces'],
    ['bounce123@example.com', 'bounce with a number'],
    ['bounce+abc123@mg.empresa.com', 'bounce+…'],
    ['lista-dev-bounces@lists.exemplo.org', 'Mailman -bounces'],
    ['bounces+12345-abcd-ana=cliente.com@em.sendgrid.net', 'SendGrid VERP'],
    ['notifications@github.com', 'notifications'],
    ['notification@slack.com', 'notification'],
    ['calendar-notification@google.com', 'calendar notifications'],
    ['notificacoes@empresa.com.br', 'pt notifications'],
    ['alerts@bank.com', 'alerts'],
    ['security-alert@example.com', 'alert'],
    ['news@loja.com.br', 'news'],
    ['newsletter@loja.com.br', 'newsletter'],
    ['mailman@lists.exemplo.org', 'list server'],
    ['ana@bounce.linkedin.com', '*@bounce.*'],
    ['ana@pm-bounces.example.com', 'bounce label with a hyphen'],
    ['abc123@1234567890.bounces.google.com', '*@*.bounces.google.com'],
    ['12345678+octocat@users.noreply.github.com', 'noreply domain'],
    ['0100018f0d6e5f3a-1c2d3e4f-5a6b-7c8d-9e0f-a1b2c3d4e5f6-000000@us-west-2.amazonses.com', 'Amazon SES'],
    ['anything@amazonses.com', 'Amazon SES'],
    ['bounce@mg.sendgrid.net', 'SendGrid infrastructure'],
    ['x@mail184.suw13.mcsv.net', 'Mailchimp infrastructure'],
    ['x@mandrillapp.com', 'Mandrill'],
    ['x@cmail20.com', 'Campaign Monitor'],
    ['msprvs1=19737L3Dz7Gxq=bounces-12345@bounce.empresa.com', 'BATV'],
    ['SRS0=hAsH=TT=cliente.com.br=ana@forwarder.example', 'SRS'],
    ['list-bounces+ana=cliente.com@lists.example.org', 'VERP with the recipient encoded'],
    ['reply+ABCDEF0123456789ABCDEF0123@reply.github.com', 'reply-routing subaddress'],
    ['support+id12345@empresa.zendesk.com', 'ticket subaddress'],
    ['suporte+ticket-8841@empresa.com.br', 'ticket subaddress'],
    ['a3f9c2e1b7d04f6a9e2c@tracking.example.com', 'long hex local part'],
    ['prvs=0123abcd45=ana@empresa.com.br', 'BATV with a short generated run'],
    ['v1=ZXhhbXBsZTEyMzQ1Ng@tracker.example', 'base64 with ='],
    ['mailer@infusionmail.com', 'a bare "mailer" (corpus list-phpmmp-m0015.eml Sender)'],
    ['root@server.example.com', 'cron mail'],
  ];
  it.each(machines)('%s is a machine (%s)', (address) => {
    expect(isMachineAddress(address)).toBe(true);
  });

  const people: Array<[string, string]> = [
    ['ana@cliente.com.br', 'a person'],
    ['ana.souza+crm@gmail.com', 'a personal subaddress'],
    ['ana+2024@gmail.com', 'a personal subaddress with a year'],
    ['info@empresa.com.br', 'shared inbox answered by people'],
    ['contato@empresa.com.br', 'shared inbox'],
    ['contact@company.com', 'shared inbox'],
    ['support@company.com', 'a helpdesk people answer'],
    ['suporte@empresa.com.br', 'a helpdesk'],
    ['sales@company.com', 'shared inbox'],
    ['vendas@empresa.com.br', 'shared inbox'],
    ['reply@empresa.com.br', '"reply" alone says nothing'],
    ['bruno.reply@empresa.com.br', 'a surname that ends a word before "reply"'],
    ['newton@empresa.com.br', 'a name containing "new"'],
    ['andrews@example.com', 'a name containing "news"'],
    ['john@bounce.io', 'a company called Bounce'],
    ['marketing@empresa.com.br', 'a team'],
    ['ana@sendgrid.com', "the platform's staff, not its infrastructure"],
    ['ana=souza@example.com', 'an = without an encoded address'],
    ['norman.mailer@example.com', '"mailer" as a surname'],
    ['', 'empty'],
    ['not-an-address', 'no @'],
  ];
  it.each(people)('%s is not a machine (%s)', (address) => {
    expect(isMachineAddress(address)).toBe(false);
  });
});

describe('isMachineMessage', () => {
  it('flags Auto-Submitted other than "no" (RFC 3834; corpus auto-sisimai-rfc3834-01.eml, -05.eml)', () => {
    expect(isMachineMessage({ autoSubmitted: 'auto-replied' })).toBe(true);
    expect(isMachineMessage({ autoSubmitted: 'auto-generated' })).toBe(true);
    expect(isMachineMessage({ autoSubmitted: 'auto-notified' })).toBe(true);
    expect(isMachineMessage({ autoSubmitted: 'Auto-Replied; owner-email="x@y.example"' })).toBe(true);
    expect(isMachineMessage({ autoSubmitted: 'no' })).toBe(false);
    expect(isMachineMessage({ autoSubmitted: ' No ' })).toBe(false);
    expect(isMachineMessage({ autoSubmitted: 'no (a comment)' })).toBe(false);
    expect(isMachineMessage({ autoSubmitted: '' })).toBe(false);
  });

  it('flags Precedence bulk, list, junk and auto_reply, also when repeated (corpus list-james-frnog.eml)', () => {
    for (const precedence of ['bulk', 'list', 'junk', 'Bulk', 'auto_reply'])
      expect(isMachineMessage({ precedence }), precedence).toBe(true);
    expect(isMachineMessage({ precedence: ['list', 'bulk'] })).toBe(true);
    expect(isMachineMessage({ precedence: 'first-class' })).toBe(false);
    expect(isMachineMessage({ precedence: 'normal' })).toBe(false);
  });

  it('flags a List-Id (corpus list-james-mail1.eml)', () => {
    expect(isMachineMessage({ listId: '"James Developers List" <server-dev.james.apache.org>' })).toBe(true);
    expect(isMachineMessage({ listId: '  ' })).toBe(false);
  });

  it('reads the other signals from headers, by name in any case (corpus list-phpmmp-m0015.eml: List-Unsubscribe only)', () => {
    expect(
      isMachineMessage({
        headers: {
          'List-Unsubscribe':
            '<https://healthmarketing.infusionsoft.com/app/optOut/noConfirm/4852414/3fd76deeb52f82ce>',
        },
      }),
    ).toBe(true);
    expect(isMachineMessage({ headers: { 'X-Autoreply': 'yes' } })).toBe(true);
    expect(isMachineMessage({ headers: { 'x-autorespond': 'Out of office' } })).toBe(true);
    expect(
      isMachineMessage({ headers: { 'Mailing-List': 'contact server-dev-help@james.apache.org; run by ezmlm' } }),
    ).toBe(true);
    expect(isMachineMessage({ headers: { 'AUTO-SUBMITTED': 'auto-generated' } })).toBe(true);
    expect(isMachineMessage({ headers: { precedence: ['bulk'] } })).toBe(true);
    expect(isMachineMessage({ headers: { 'List-Id': '<vendas.googlegroups.com>' } })).toBe(true);
  });

  it('flags delivery and read reports by their Content-Type (corpus dsn-rbmail-report_422.eml, dsn-sisimai-rfc3464-01.eml)', () => {
    expect(
      isMachineMessage({
        headers: { 'Content-Type': 'multipart/report; report-type=delivery-status; boundary="abc"' },
      }),
    ).toBe(true);
    expect(
      isMachineMessage({ headers: { 'content-type': 'Multipart/Report; report-type=disposition-notification' } }),
    ).toBe(true);
    expect(isMachineMessage({ headers: { 'Content-Type': 'multipart/mixed; boundary="report"' } })).toBe(false);
  });

  it('does not flag ordinary mail, even an Outlook "Automatic reply:" without headers (corpus auto-sisimai-rfc3834-02.eml)', () => {
    expect(isMachineMessage({})).toBe(false);
    expect(
      isMachineMessage({
        autoSubmitted: null,
        precedence: null,
        listId: null,
        headers: { 'X-Mailer': 'Microsoft Outlook 16.0', 'List-Unsubscribe': '' },
      }),
    ).toBe(false);
  });
});
