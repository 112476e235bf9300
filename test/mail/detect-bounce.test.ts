// Bounce recognition: hand-made reports of each kind (RFC 3464 and the plain-text notices of the common mail
// servers) and what must not be taken for one (delays, success reports, read receipts, auto-replies, forwards,
// challenge-response); then the real-world corpus of ../shared/corpus, labelled from its MANIFEST.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { detectBounce, type BounceInfo } from '../../src/mail/bounces/detect-bounce.js';
import { parseMessage } from '../../src/mail/mime/parse-message.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const corpusDir = path.resolve(repoRoot, '..', 'shared', 'corpus');
const emlDir = path.join(corpusDir, 'eml');
const manifestPath = path.join(corpusDir, 'MANIFEST.tsv');
const corpusExists = existsSync(emlDir) && existsSync(manifestPath);
if (!corpusExists) console.warn(`[detect-bounce] corpus not found at ${corpusDir}: corpus tests skipped`);

function eml(...lines: string[]): Buffer {
  return Buffer.from(lines.join('\r\n'), 'utf8');
}

async function detect(raw: Buffer): Promise<BounceInfo | null> {
  const withParsed = detectBounce(raw, await parseMessage(raw));
  // Without the parsed message the headers are read by detectBounce itself: same answer.
  expect(detectBounce(raw)).toEqual(withParsed);
  return withParsed;
}

const ORIGINAL = [
  'Return-Path: <ana@example.com>',
  'Message-ID: <Proposal.42@Mail.Example.COM>',
  'Date: Mon, 3 Mar 2025 10:00:00 +0000',
  'From: Ana Souza <ana@example.com>',
  'To: Bob <bob@example.org>',
  'Subject: Proposal',
  '',
  'Hello Bob, here is the proposal.',
];

function dsn(options: {
  recipients: string[];
  subject?: string;
  from?: string;
  reportType?: string;
  original?: string[];
}): Buffer {
  return eml(
    `From: ${options.from ?? 'Mail Delivery System <MAILER-DAEMON@mx.example.net>'}`,
    'To: ana@example.com',
    `Subject: ${options.subject ?? 'Undelivered Mail Returned to Sender'}`,
    'Auto-Submitted: auto-replied',
    'Message-ID: <report.1@mx.example.net>',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=${options.reportType ?? 'delivery-status'}; boundary="RPT"`,
    '',
    'This is a MIME-encapsulated message.',
    '',
    '--RPT',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'This is the mail system at host mx.example.net.',
    '',
    '--RPT',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.example.net',
    'Arrival-Date: Mon, 3 Mar 2025 10:00:01 +0000',
    '',
    ...options.recipients,
    '',
    '--RPT',
    'Content-Type: message/rfc822',
    '',
    ...(options.original ?? ORIGINAL),
    '--RPT--',
    '',
  );
}

describe('detectBounce: RFC 3464 delivery status notifications', () => {
  it('reads a hard bounce: recipient (Original-Recipient preferred), status, action, diagnostic, original id, reporter', async () => {
    const raw = dsn({
      recipients: [
        'Final-Recipient: rfc822; bob.smith@mail.example.org',
        'Original-Recipient: rfc822; Bob@Example.org',
        'Action: failed',
        'Status: 5.1.1',
        'Remote-MTA: dns; mx.example.org',
        'Diagnostic-Code: smtp; 550 5.1.1 <bob.smith@mail.example.org>: Recipient address',
        '    rejected: User unknown',
      ],
    });
    expect(await detect(raw)).toEqual({
      kind: 'hard',
      recipients: [
        {
          address: 'bob@example.org',
          status: '5.1.1',
          action: 'failed',
          diagnostic: '550 5.1.1 <bob.smith@mail.example.org>: Recipient address rejected: User unknown',
        },
      ],
      originalMessageId: 'Proposal.42@mail.example.com',
      reporter: 'mx.example.net',
    });
  });

  it('calls a failure on a 4.x.x status soft', async () => {
    const raw = dsn({
      recipients: [
        'Final-Recipient: rfc822; bob@example.org',
        'Action: failed',
        'Status: 4.4.7',
        'Diagnostic-Code: smtp; 421 4.4.7 Message expired',
      ],
    });
    const bounce = await detect(raw);
    expect(bounce?.kind).toBe('soft');
    expect(bounce?.recipients.map((r) => r.status)).toEqual(['4.4.7']);
  });

  it('takes the kind from the diagnostic when Status is missing, and hard when there is no code at all', async () => {
    const fromDiagnostic = dsn({
      recipients: [
        'Final-Recipient: rfc822; bob@example.org',
        'Action: failed',
        'Diagnostic-Code: X-Local; 452 mailbox full',
      ],
    });
    expect((await detect(fromDiagnostic))?.kind).toBe('soft');
    const noCode = dsn({ recipients: ['Final-Recipient: rfc822; bob@example.org', 'Action: failed'] });
    expect(await detect(noCode)).toMatchObject({
      kind: 'hard',
      recipients: [{ address: 'bob@example.org', status: null, diagnostic: null }],
    });
  });

  it('lists only the failed recipients of a mixed report; hard wins over soft', async () => {
    const raw = dsn({
      recipients: [
        'Final-Recipient: rfc822; carl@example.org',
        'Action: delivered',
        'Status: 2.0.0',
        '',
        'Final-Recipient: rfc822; <BOB@example.org>',
        'Action: failed',
        'Status: 5.2.1',
        '',
        'Final-Recipient: rfc822; dave@example.org',
        'Action: delayed',
        'Status: 4.4.1',
        '',
        'Final-Recipient: rfc822; eve@example.org',
        'Action: failed',
        'Status: 4.2.2',
        // no blank line between recipients: tolerated
        'Final-Recipient: rfc822; frank@example.org',
        'Action: relayed',
        'Status: 2.0.0',
      ],
    });
    const bounce = await detect(raw);
    expect(bounce?.kind).toBe('hard');
    expect(bounce?.recipients.map((r) => [r.address, r.status])).toEqual([
      ['bob@example.org', '5.2.1'],
      ['eve@example.org', '4.2.2'],
    ]);
  });

  it('is not a bounce when no recipient failed: delay, delivered, relayed, expanded (whatever the text says)', async () => {
    for (const action of ['delayed', 'delivered', 'relayed', 'expanded']) {
      const raw = dsn({
        subject: action === 'delayed' ? 'Delayed Mail (still being retried)' : 'Successful Mail Delivery Report',
        recipients: [
          'Final-Recipient: rfc822; bob@example.org',
          `Action: ${action}`,
          `Status: ${action === 'delayed' ? '4.4.1' : '2.0.0'}`,
        ],
      });
      expect(await detect(raw)).toBeNull();
    }
  });

  it('finds the original Message-ID in text/rfc822-headers, else X-Original-Message-ID, else In-Reply-To', async () => {
    const headersOnly = eml(
      'From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.net>',
      'To: ana@example.com',
      'Subject: Returned mail: see transcript for details',
      'Content-Type: multipart/report; report-type=delivery-status; boundary=B',
      '',
      '--B',
      'Content-Type: message/delivery-status',
      '',
      'Reporting-MTA: dns; mx.example.net',
      '',
      'Final-Recipient: RFC822; bob@example.org',
      'Action: failed',
      'Status: 5.1.1',
      '',
      '--B',
      'Content-Type: text/rfc822-headers',
      '',
      'Message-Id: <HDRS.1@Example.COM>',
      'From: ana@example.com',
      'To: bob@example.org',
      '',
      '--B--',
    );
    expect((await detect(headersOnly))?.originalMessageId).toBe('HDRS.1@example.com');

    const gmail = eml(
      'From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>',
      'To: ana@example.com',
      'Subject: Delivery Status Notification (Failure)',
      'In-Reply-To: <irt.1@mail.example.com>',
      'Content-Type: multipart/report; report-type=delivery-status; boundary=B',
      '',
      '--B',
      'Content-Type: message/delivery-status',
      '',
      'Reporting-MTA: dns; googlemail.com',
      'X-Original-Message-ID: <CA+orig@Mail.Gmail.COM>',
      '',
      'Final-Recipient: rfc822; bob@example.org',
      'Action: failed',
      'Status: 5.1.1',
      '',
      '--B--',
    );
    expect((await detect(gmail))?.originalMessageId).toBe('CA+orig@mail.gmail.com');
    const irtOnly = Buffer.from(gmail.toString('utf8').replace(/X-Original-Message-ID: .*\r\n/, ''));
    expect((await detect(irtOnly))?.originalMessageId).toBe('irt.1@mail.example.com');
  });

  it('reads a base64 delivery-status part and a global (UTF-8) one', async () => {
    const fields =
      'Reporting-MTA: dns; mx.example.net\r\n\r\nFinal-Recipient: rfc822; bob@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n';
    const raw = eml(
      'From: MAILER-DAEMON@mx.example.net',
      'Subject: Undeliverable',
      'Content-Type: multipart/report; report-type=global-delivery-status; boundary=B',
      '',
      '--B',
      'Content-Type: message/global-delivery-status',
      'Content-Transfer-Encoding: base64',
      '',
      Buffer.from(fields).toString('base64'),
      '--B--',
    );
    expect((await detect(raw))?.recipients.map((r) => r.address)).toEqual(['bob@example.org']);
  });
});

describe('detectBounce: plain-text notices', () => {
  it('qmail', async () => {
    const raw = eml(
      'Return-Path: <>',
      'From: MAILER-DAEMON@mail.example.net',
      'To: ana@example.com',
      'Subject: failure notice',
      '',
      'Hi. This is the qmail-send program at mail.example.net.',
      "I'm afraid I wasn't able to deliver your message to the following addresses.",
      "This is a permanent error; I've given up. Sorry it didn't work out.",
      '',
      '<bob@example.org>:',
      '192.0.2.7 does not like recipient.',
      'Remote host said: 550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown',
      'Giving up on 192.0.2.7.',
      '',
      '--- Below this line is a copy of the message.',
      '',
      ...ORIGINAL,
    );
    expect(await detect(raw)).toMatchObject({
      kind: 'hard',
      recipients: [{ address: 'bob@example.org', status: '5.1.1', action: null }],
      originalMessageId: 'Proposal.42@mail.example.com',
      reporter: 'mail.example.net',
    });
  });

  it('qmail giving up on a temporary error (#4.x.x) is soft', async () => {
    const raw = eml(
      'From: MAILER-DAEMON@mail.example.net',
      'To: ana@example.com',
      'Subject: failure notice',
      '',
      'Hi. This is the qmail-send program at mail.example.net.',
      "I'm afraid I wasn't able to deliver your message to the following addresses.",
      "This is a permanent error; I've given up. Sorry it didn't work out.",
      '',
      '<bob@example.org>:',
      "Sorry, I couldn't find any host by that name. (#4.1.2)",
      "I'm not going to try again; this message has been in the queue too long.",
      '',
      '--- Below this line is a copy of the message.',
      '',
      ...ORIGINAL,
    );
    expect(await detect(raw)).toMatchObject({
      kind: 'soft',
      recipients: [{ address: 'bob@example.org', status: '4.1.2' }],
    });
  });

  it('Exim, with X-Failed-Recipients naming two addresses', async () => {
    const raw = eml(
      'From: Mail Delivery System <Mailer-Daemon@mx.example.net>',
      'To: ana@example.com',
      'X-Failed-Recipients: bob@example.org, carl@example.org',
      'Auto-Submitted: auto-replied',
      'Subject: Mail delivery failed: returning message to sender',
      '',
      'This message was created automatically by mail delivery software.',
      '',
      'A message that you sent could not be delivered to one or more of its',
      'recipients. This is a permanent error. The following address(es) failed:',
      '',
      '  bob@example.org',
      '    host mx.example.org [192.0.2.7]',
      '    SMTP error from remote mail server after RCPT TO:<bob@example.org>:',
      '    550 5.1.1 User unknown',
      '  carl@example.org',
      '    host mx.example.org [192.0.2.7]',
      '    SMTP error from remote mail server after RCPT TO:<carl@example.org>:',
      '    550 5.2.1 Mailbox disabled',
      '',
      '------ This is a copy of the message, including all the headers. ------',
      '',
      ...ORIGINAL,
    );
    expect(await detect(raw)).toMatchObject({
      kind: 'hard',
      recipients: [
        { address: 'bob@example.org', status: '5.1.1' },
        { address: 'carl@example.org', status: '5.2.1' },
      ],
      originalMessageId: 'Proposal.42@mail.example.com',
    });
  });

  it('Exim giving up on a full mailbox (4.2.2) is soft', async () => {
    const raw = eml(
      'From: Mail Delivery System <Mailer-Daemon@mx.example.net>',
      'To: ana@example.com',
      'Subject: Mail delivery failed: returning message to sender',
      '',
      'This message was created automatically by mail delivery software.',
      '',
      'A message that you sent could not be delivered to one or more of its',
      'recipients. This is a permanent error. The following address(es) failed:',
      '',
      '  bob@example.org',
      '    retry timeout exceeded',
      '    SMTP error from remote mail server after RCPT TO:<bob@example.org>:',
      '    452 4.2.2 Mailbox full',
    );
    expect(await detect(raw)).toMatchObject({
      kind: 'soft',
      recipients: [{ address: 'bob@example.org', status: '4.2.2' }],
    });
  });

  it('Postfix without a DSN part (text + attached original), alias "expanded from" the address that was written', async () => {
    const raw = eml(
      'From: MAILER-DAEMON@mail.example.net (Mail Delivery System)',
      'To: ana@example.com',
      'Subject: Undelivered Mail Returned to Sender',
      'Content-Type: multipart/mixed; boundary="PF"',
      '',
      '--PF',
      'Content-Description: Notification',
      'Content-Type: text/plain; charset=us-ascii',
      '',
      'This is the mail system at host mail.example.net.',
      '',
      "I'm sorry to have to inform you that your message could not",
      "be delivered to one or more recipients. It's attached below.",
      '',
      '                   The mail system',
      '',
      '<b.smith@mail.example.org> (expanded from <bob@example.org>): host',
      '    mx.example.org[192.0.2.7] said: 550 5.1.1 <b.smith@mail.example.org>:',
      '    Recipient address rejected: User unknown (in reply to RCPT TO command)',
      '',
      '--PF',
      'Content-Description: Undelivered Message',
      'Content-Type: message/rfc822',
      '',
      ...ORIGINAL,
      '--PF--',
    );
    expect(await detect(raw)).toMatchObject({
      kind: 'hard',
      recipients: [{ address: 'bob@example.org', status: '5.1.1' }],
      originalMessageId: 'Proposal.42@mail.example.com',
      reporter: 'mail.example.net',
    });
  });

  it('Sendmail without a DSN part', async () => {
    const raw = eml(
      'From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.net>',
      'To: ana@example.com',
      'Subject: Returned mail: see transcript for details',
      'Auto-Submitted: auto-generated (failure)',
      '',
      'The original message was received at Mon, 3 Mar 2025 10:00:00 +0000',
      'from client.example.com [192.0.2.1]',
      '',
      '   ----- The following addresses had permanent fatal errors -----',
      '<bob@example.org>',
      '    (reason: 550 5.1.1 <bob@example.org>... User unknown)',
      '',
      '   ----- Transcript of session follows -----',
      '... while talking to mx.example.org.:',
      '>>> DATA',
      '<<< 550 5.1.1 <bob@example.org>... User unknown',
      '550 5.1.1 <bob@example.org>... User unknown',
      '<<< 503 5.0.0 Need RCPT (recipient)',
      '',
      '   ----- Original message follows -----',
      ...ORIGINAL,
    );
    expect(await detect(raw)).toMatchObject({
      kind: 'hard',
      recipients: [{ address: 'bob@example.org', status: '5.1.1' }],
      originalMessageId: 'Proposal.42@mail.example.com',
    });
  });

  it('Exchange / Microsoft 365 NDR in text only ("Delivery has failed to these recipients or groups")', async () => {
    const raw = eml(
      'From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@contoso.com>',
      'To: Ana <ana@contoso.com>',
      'Subject: Undeliverable: Proposal',
      'Content-Type: text/plain; charset="us-ascii"',
      '',
      'Delivery has failed to these recipients or groups:',
      '',
      'Bob (bob@example.org)',
      "The e-mail address you entered couldn't be found. Please check the recipient's e-mail address and try to resend the message.",
      '',
      'Diagnostic information for administrators:',
      '',
      'Generating server: EX01.contoso.com',
      '',
      'bob@example.org',
      '#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##',
      '',
      'Original message headers:',
      '',
      'Received: from EX02.contoso.com (10.0.0.2) by EX01.contoso.com (10.0.0.1) with Microsoft SMTP Server id 14.3.0.1;',
      ' Mon, 3 Mar 2025 10:00:00 +0000',
      'Message-ID: <ABCD1234@EX01.contoso.com>',
      'Subject: Proposal',
      'From: Ana <ana@contoso.com>',
      'To: Bob <bob@example.org>',
    );
    expect(await detect(raw)).toMatchObject({
      kind: 'hard',
      recipients: [
        {
          address: 'bob@example.org',
          status: '5.1.1',
          diagnostic: 'bob@example.org #550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##',
        },
      ],
      originalMessageId: 'ABCD1234@ex01.contoso.com',
      reporter: 'EX01.contoso.com',
    });
  });

  it('Microsoft 365 NDR in Portuguese, HTML only', async () => {
    const raw = eml(
      'From: postmaster@contoso.com.br',
      'To: ana@contoso.com.br',
      'Subject: =?UTF-8?Q?N=C3=A3o_=C3=A9_poss=C3=ADvel_entregar:_Proposta?=',
      'Content-Type: text/html; charset=utf-8',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      '<html><head><style>p{margin:0}</style></head><body>',
      '<p><b>Falha na entrega a estes destinat=C3=A1rios ou grupos:</b></p>',
      '<p><a href=3D"mailto:bob@example.org">bob@example.org</a><br>',
      'O endere=C3=A7o de email que voc=C3=AA inseriu n=C3=A3o p=C3=B4de ser encontrado.</p>',
      '<p>Remote Server returned &#39;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup&#39;</p>',
      '</body></html>',
    );
    expect(await detect(raw)).toMatchObject({
      kind: 'hard',
      recipients: [{ address: 'bob@example.org', status: '5.1.10' }],
    });
  });

  it('Exchange 2003 ("did not reach some or all of the intended recipients")', async () => {
    const raw = eml(
      'From: System Administrator <postmaster@example.com>',
      'To: ana@example.com',
      'Subject: Undeliverable: Proposal',
      '',
      'Your message did not reach some or all of the intended recipients.',
      '',
      '      Subject:\tProposal',
      '      Sent:\t3/3/2025 10:00 AM',
      '',
      'The following recipient(s) cannot be reached:',
      '',
      '      Bob on 3/3/2025 10:00 AM',
      '            The e-mail account does not exist at the organization this message was sent to.',
      '            <mx.example.org #5.1.1 smtp;550 5.1.1 <bob@example.org>... User unknown>',
    );
    expect(await detect(raw)).toMatchObject({
      kind: 'hard',
      recipients: [{ address: 'bob@example.org', status: '5.1.1' }],
    });
  });

  it('Gmail "Address not found" without a DSN part: the response code belongs to the single recipient', async () => {
    const raw = eml(
      'From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>',
      'To: ana@example.com',
      'X-Failed-Recipients: bob@example.org',
      'Subject: Delivery Status Notification (Failure)',
      'Content-Type: text/plain; charset=UTF-8',
      '',
      '** Address not found **',
      '',
      "Your message wasn't delivered to bob@example.org because the address couldn't be found, or is unable to receive mail.",
      '',
      'The response was:',
      '',
      '550 5.1.1 The email account that you tried to reach does not exist.',
    );
    expect(await detect(raw)).toMatchObject({
      kind: 'hard',
      recipients: [
        {
          address: 'bob@example.org',
          status: '5.1.1',
          diagnostic: '550 5.1.1 The email account that you tried to reach does not exist.',
        },
      ],
    });
  });

  it('Yahoo (hard and, for a full mailbox, soft)', async () => {
    const yahoo = (reply: string): Buffer =>
      eml(
        'From: MAILER-DAEMON@yahoo.com',
        'To: ana@yahoo.com',
        'Subject: Failure Notice',
        '',
        'Sorry, we were unable to deliver your message to the following address.',
        '',
        '<bob@example.org>:',
        `Remote host said: ${reply}`,
        '',
        '--- Below this line is a copy of the message.',
        '',
        ...ORIGINAL,
      );
    expect(await detect(yahoo('552 1 Requested mail action aborted, mailbox not found [RCPT_TO]'))).toMatchObject({
      kind: 'hard',
      recipients: [{ address: 'bob@example.org', status: null }],
      originalMessageId: 'Proposal.42@mail.example.com',
    });
    expect(await detect(yahoo('452 4.2.2 Mailbox full [RCPT_TO]'))).toMatchObject({
      kind: 'soft',
      recipients: [{ status: '4.2.2' }],
    });
  });

  it('Lotus Notes / Domino', async () => {
    const raw = eml(
      'From: Postmaster@notes.example.org',
      'To: ana@example.com',
      'Subject: DELIVERY FAILURE: User bob (bob@example.org) not listed in Domino Directory',
      'Content-Type: multipart/mixed; boundary="N"',
      '',
      '--N',
      'Content-Type: text/plain',
      '',
      'Your message',
      '',
      '  Subject: Proposal',
      '',
      'was not delivered to:',
      '',
      '  bob@example.org',
      '',
      'because:',
      '',
      '  User bob (bob@example.org) not listed in Domino Directory',
      '',
      '--N',
      'Content-Type: message/rfc822',
      '',
      ...ORIGINAL,
      '--N--',
    );
    expect(await detect(raw)).toMatchObject({
      kind: 'hard',
      recipients: [
        {
          address: 'bob@example.org',
          status: null,
          diagnostic: 'User bob (bob@example.org) not listed in Domino Directory',
        },
      ],
      originalMessageId: 'Proposal.42@mail.example.com',
    });
  });

  it('Novell GroupWise', async () => {
    const raw = eml(
      'From: Mail Delivery System <MAILER-DAEMON@gw.example.org>',
      'To: ana@example.com',
      'Subject: Message status - undeliverable',
      '',
      'The message that you sent was undeliverable to the following:',
      '\tbob@example.org (user not found)',
      '',
      'Possible causes:',
      'The e-mail address was not typed correctly.',
    );
    expect(await detect(raw)).toMatchObject({
      kind: 'hard',
      recipients: [{ address: 'bob@example.org', diagnostic: 'bob@example.org (user not found)' }],
    });
  });

  it('a report that names no one still is a bounce when a mail daemon sends it; the single original recipient is used', async () => {
    const raw = eml(
      'From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.net>',
      'To: ana@example.com',
      'Subject: Returned mail: Cannot send message for 5 days',
      '',
      '   ----- Transcript of session follows -----',
      '421 example.org (smtp)... Deferred: Connection timed out',
      '',
      '   ----- Unsent message follows -----',
      ...ORIGINAL,
    );
    expect(await detect(raw)).toMatchObject({
      kind: 'soft',
      recipients: [{ address: 'bob@example.org' }],
      originalMessageId: 'Proposal.42@mail.example.com',
    });
    const nothing = eml(
      'From: Mailer-Daemon@example.com',
      'Subject: Delivery Status Notification (Failure)',
      '',
      'Sorry.',
    );
    expect(await detect(nothing)).toMatchObject({ kind: 'hard', recipients: [], originalMessageId: null });
  });
});

describe('detectBounce: not bounces', () => {
  it('read receipts (disposition-notification), abuse reports', async () => {
    const receipt = eml(
      'From: Bob <bob@example.org>',
      'To: ana@example.com',
      'Subject: Read: Proposal',
      'Content-Type: multipart/report; report-type=disposition-notification; boundary=R',
      '',
      '--R',
      'Content-Type: text/plain',
      '',
      'Your message was displayed. This is no guarantee that the message has been read or understood.',
      '--R',
      'Content-Type: message/disposition-notification',
      '',
      'Reporting-UA: mail.example.org; Thunderbird',
      'Final-Recipient: rfc822; bob@example.org',
      'Original-Message-ID: <Proposal.42@mail.example.com>',
      'Disposition: manual-action/MDN-sent-manually; displayed',
      '--R--',
    );
    expect(await detect(receipt)).toBeNull();
    const arf = dsn({
      reportType: 'feedback-report',
      from: 'Abuse Desk <abuse@isp.example>',
      recipients: ['Feedback-Type: abuse'],
    });
    expect(await detect(arf)).toBeNull();
  });

  it('auto-replies and out-of-office, even when they say the mail will not be read', async () => {
    const cases: string[][] = [
      ['From: Bob <bob@example.org>', 'Auto-Submitted: auto-replied', 'Subject: Away until May 5'],
      ['From: Bob <bob@example.org>', 'Subject: Out of Office: Proposal'],
      ['From: Bob <bob@example.org>', 'Subject: Automatic reply: Proposal', 'X-Auto-Response-Suppress: All'],
      ['From: Beto <beto@example.com.br>', 'Subject: Resposta automática: Proposta', 'X-Autoreply: yes'],
      ['Return-Path: <>', 'From: Bob <bob@example.org>', 'Subject: Auto reply: Proposal', 'X-Apple-Action: VACATION'],
    ];
    for (const headers of cases) {
      const raw = eml(
        ...headers,
        'To: ana@example.com',
        '',
        'I no longer work here and this mailbox is not monitored: your message was not delivered to anyone.',
        'Undeliverable mail should go to carl@example.org.',
      );
      expect(await detect(raw)).toBeNull();
    }
  });

  it('a bounce forwarded by a person, inline or as an attachment', async () => {
    const inline = eml(
      'From: Ana Souza <ana@example.com>',
      'To: it@example.com',
      'Subject: Fwd: Undelivered Mail Returned to Sender',
      '',
      'Why did this bounce?',
      '',
      '---------- Forwarded message ---------',
      'From: Mail Delivery System <MAILER-DAEMON@mx.example.net>',
      'Date: Mon, 3 Mar 2025',
      'Subject: Undelivered Mail Returned to Sender',
      'To: ana@example.com',
      '',
      "I'm sorry to have to inform you that your message could not",
      "be delivered to one or more recipients. It's attached below.",
      '',
      '<bob@example.org>: host mx.example.org[192.0.2.7] said: 550 5.1.1 User unknown',
    );
    expect(await detect(inline)).toBeNull();
    // The same words, no Fwd: subject: a person's From is enough to say no.
    expect(await detect(Buffer.from(inline.toString('utf8').replace('Subject: Fwd: ', 'Subject: ')))).toBeNull();

    const attached = eml(
      'From: Ana Souza <ana@example.com>',
      'To: it@example.com',
      'Subject: this bounced',
      'Content-Type: multipart/mixed; boundary=F',
      '',
      '--F',
      'Content-Type: text/plain',
      '',
      'See the attached bounce.',
      '--F',
      'Content-Type: message/rfc822',
      'Content-Disposition: attachment; filename="bounce.eml"',
      '',
      dsn({ recipients: ['Final-Recipient: rfc822; bob@example.org', 'Action: failed', 'Status: 5.1.1'] }).toString(
        'utf8',
      ),
      '--F--',
    );
    expect(await detect(attached)).toBeNull();
  });

  it('challenge-response messages', async () => {
    const spamArrest = eml(
      'Return-Path: <>',
      'From: Bob <bob@example.org>',
      'To: ana@example.com',
      'Subject: Please verify your email address (Re: Proposal)',
      'Auto-Submitted: auto-replied',
      '',
      "Hello, I'm protecting my inbox from junk mail with a challenge-response system.",
      'Your message has not been delivered yet. Please click the link below to verify you are a real person:',
      'https://verify.example.net/c/123',
    );
    expect(await detect(spamArrest)).toBeNull();
    const tmda = eml(
      'From: MAILER-DAEMON@example.org',
      'To: ana@example.com',
      'Subject: Please confirm your message',
      '',
      'Your message to bob@example.org was not delivered and is awaiting your confirmation.',
      'Please reply to this message to confirm that you are a human.',
    );
    expect(await detect(tmda)).toBeNull();
  });

  it('delay warnings written as text (Postfix, Gmail)', async () => {
    const postfix = eml(
      'From: MAILER-DAEMON@mail.example.net (Mail Delivery System)',
      'To: ana@example.com',
      'Subject: Delayed Mail (still being retried)',
      '',
      'This is the mail system at host mail.example.net.',
      '',
      '####################################################################',
      '# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #',
      '####################################################################',
      '',
      'Your message could not be delivered for more than 4 hour(s).',
      'It will be retried until it is 5 day(s) old.',
      '',
      '<bob@example.org>: connect to mx.example.org[192.0.2.7]:25: Connection timed out',
    );
    expect(await detect(postfix)).toBeNull();
    const gmail = eml(
      'From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>',
      'To: ana@example.com',
      'Subject: Delivery Status Notification (Delay)',
      '',
      '** Delivery incomplete **',
      '',
      'There was a temporary problem delivering your message to bob@example.org. Gmail will retry for 47 more hours.',
      "You'll be notified if the delivery fails permanently.",
    );
    expect(await detect(gmail)).toBeNull();
  });

  it('ordinary mail, a no-reply notice without an address, and mail that only mentions bounces', async () => {
    expect(
      await detect(
        eml(
          'From: Bob <bob@example.org>',
          'Subject: Re: Proposal',
          '',
          'Sorry, my last mail was undeliverable; resending.',
        ),
      ),
    ).toBeNull();
    expect(
      await detect(
        eml(
          'From: Shop <no-reply@shop.example>',
          'Subject: Your parcel',
          '',
          'Your parcel could not be delivered today. We will try again.',
        ),
      ),
    ).toBeNull();
    expect(
      await detect(
        eml('From: postmaster@example.org', 'Subject: Your mailbox is almost full', '', 'Please delete old mail.'),
      ),
    ).toBeNull();
  });

  it('does not throw on garbage and stays fast on hostile input', async () => {
    const inputs = [
      Buffer.alloc(0),
      Buffer.from('\r\n\r\n'),
      Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x0a, 0x0d, 0x3a]),
      eml('From: MAILER-DAEMON@x.example', 'Subject: Undeliverable'),
      eml(
        'Content-Type: multipart/report; report-type=delivery-status; boundary=X',
        '',
        '--X',
        'Content-Type: message/delivery-status',
        '',
        'Final-Recipient',
      ),
      eml('From: MAILER-DAEMON@x.example', 'Subject: Undeliverable', '', 'a'.repeat(2_000_000)),
      eml('From: MAILER-DAEMON@x.example', 'Subject: Undeliverable', '', `${'a'.repeat(60)}@`.repeat(30_000)),
      eml('From: MAILER-DAEMON@x.example', 'Subject: Undeliverable', '', `<${'x'.repeat(100)}`.repeat(20_000)),
      eml('From: MAILER-DAEMON@x.example', 'Subject: Undeliverable', '', '550 5.1.1 '.repeat(200_000)),
      dsn({
        recipients: [
          `Final-Recipient: rfc822; ${'a.'.repeat(30_000)}@`,
          `Original-Recipient: rfc822; ${'a@'.repeat(30_000)}`,
          'Action: failed',
        ],
      }),
      eml(
        'Content-Type: multipart/mixed; boundary=B',
        '',
        ...Array.from({ length: 20_000 }, () => '--B\r\nContent-Type: multipart/mixed; boundary=B\r\n'),
      ),
      eml('Content-Type: text/html', 'From: MAILER-DAEMON@x.example', '', '<style>'.repeat(100_000)),
    ];
    const t0 = performance.now();
    for (const raw of inputs) {
      expect(() => detectBounce(raw)).not.toThrow();
      detectBounce(raw, await parseMessage(raw));
    }
    expect(performance.now() - t0).toBeLessThan(15_000);
  });
});

// ---------------------------------------------------------------------------------------------------------
// The corpus.

interface Expected {
  bounce: boolean;
  kind?: 'hard' | 'soft';
  /** The failed recipients, when known. */
  recipients?: string[];
  /** The bounced message's id; null when the report does not carry it. */
  originalMessageId?: string | null;
}

/** Files that are the test set: dsn-*, auto-*, and any whose description speaks of bounces, auto-replies, receipts. */
function inTestSet(file: string, description: string): boolean {
  return (
    /^(?:dsn|auto)-/.test(path.basename(file)) ||
    /bounce|auto-?reply|\bDSN\b|\bNDR\b|receipt|multipart\/report|vacation|undeliverable|delivery status/i.test(
      description,
    )
  );
}

/** Bounce or not, as the MANIFEST's description says; undefined when it does not say. */
function labelFromDescription(file: string, description: string): boolean | undefined {
  if (
    /not a bounce|not bounce|false-positive|\bdelay|warning|auto-?reply|automatic reply|auto reply|vacation|out of office|receipt|disposition|abuse report|feedback/i.test(
      description,
    )
  ) {
    return false;
  }
  if (/bounce|\bDSN\b|\bNDR\b|undeliverable|delivery status|returned mail/i.test(description)) return true;
  if (/^auto-/.test(path.basename(file))) return false;
  return undefined;
}

// Where the description is wrong or silent about bounce vs not, from reading the file.
const LABEL_OVERRIDES: Record<string, { bounce: boolean; why: string }> = {
  'dsn-rbmail-report_422.eml': {
    bounce: false,
    why: 'described as a DSN, but it is a Sendmail delay warning: Action: delayed, "THIS IS A WARNING MESSAGE ONLY"',
  },
  'mal-rbmail-raw_email_with_mimepart_without_content_type.eml': {
    bounce: false,
    why: 'described as a bounce, but it is a delay warning: Action: delayed, "Warning: could not send message for past 1 day"',
  },
  'mal-enmime-multipart-wo-boundary.eml': {
    bounce: true,
    why: 'description is about the missing boundary; From Mailer-Daemon, Subject "Delivery Status Notification (Failure)"',
  },
};

// What the bounces say, read from the files (the descriptions do not give kind, recipient or original id).
const FILE_FACTS: Record<string, Omit<Expected, 'bounce'>> = {
  'dsn-sisimai-rfc3464-01.eml': {
    kind: 'hard',
    recipients: ['userunknown@bouncehammer.jp'],
    originalMessageId: 'E1C50F1B-1C83-4820-BC36-AC6FBFBE8568@example.org',
  },
  // Original-Recipient kijitora@example.org was expanded to r@p351355…: the address that was written is the one.
  // The attached message/rfc822 part is empty.
  'dsn-sisimai-lhost-postfix-01.eml': { kind: 'hard', recipients: ['kijitora@example.org'], originalMessageId: null },
  'dsn-sisimai-lhost-sendmail-01.eml': {
    kind: 'hard',
    recipients: ['userunknown@bouncehammer.jp'],
    originalMessageId: 'E1C50F1B-1C83-4820-BC36-AC6FBFBE8568@example.org',
  },
  'dsn-sisimai-lhost-exim-01.eml': {
    kind: 'hard',
    recipients: ['kijitora@example.ed.jp'],
    originalMessageId: 'E1P1ce6-000Egt-GZ@e1.example.org',
  },
  'dsn-sisimai-lhost-qmail-01.eml': {
    kind: 'hard',
    recipients: ['kijitora@example.ne.jp'],
    originalMessageId: '000000000.9999999999999.JavaMail.postmaster@mailhub',
  },
  // The attached original has no Message-ID.
  'dsn-sisimai-lhost-exchange2007-01.eml': {
    kind: 'hard',
    recipients: ['mikeneko@example.co.jp'],
    originalMessageId: null,
  },
  'dsn-sisimai-lhost-amazonses-01.eml': {
    kind: 'hard',
    recipients: ['shironeko@example.co.jp'],
    originalMessageId: '000001321defbd2a-788e31c8-2be1-422f-a8d4-cf7765cc9ed7-000000@email.amazonses.com',
  },
  // No code; the reason is in Japanese: a failure with no code is final, so hard.
  'dsn-sisimai-lhost-notes-01.eml': {
    kind: 'hard',
    recipients: ['kijitora@u1.example.co.jp'],
    originalMessageId: '000000000.0000000000000.notes@example.co.jp',
  },
  // "As their mailbox is full": given up on a temporary cause, soft.
  'dsn-sisimai-lhost-kddi-01.eml': {
    kind: 'soft',
    recipients: ['kijitora@x0000000000000.dion.ne.jp'],
    originalMessageId: '2013000000000000@example.jp',
  },
  // "421 … Deferred" for 4 days, then returned: soft; the transcript names only the domain, the original went to one
  // address.
  'dsn-sisimai-lhost-v5sendmail-01.eml': {
    kind: 'soft',
    recipients: ['kijitora@example.com'],
    originalMessageId: null,
  },
  // The text/rfc822-headers part's boundary line does not match the declared boundary.
  'dsn-sisimai-rhost-google-01.eml': {
    kind: 'hard',
    recipients: ['shironeko@example.ne.jp'],
    originalMessageId: '201305110000000000000.r4B003v000000@mail4.example.co.jp',
  },
  'dsn-flanker-gmail-invalid-address.eml': {
    kind: 'hard',
    recipients: ['awfawfawfawfawfaw@someserverhere.com'],
    originalMessageId: 'CAKsfaBUUGqVZiaMrmH3TRPfq1odQPtM7Ey5YW1SgyJJRHtAjgw@mail.gmail.com',
  },
  // "Delivery failed 10 attempts": given up after retrying, no code: soft. The appended original has no Message-ID.
  'dsn-flanker-broken-mime.eml': { kind: 'soft', recipients: ['info@example.net'], originalMessageId: null },
  // "Diagnostic-Code: X-LOCAL; 500 (err.nosuchuser)", no Status.
  'dsn-mimekit-delivery-status-no-blank-line.eml': {
    kind: 'hard',
    recipients: ['newsletter-request@imusic.com'],
    originalMessageId: '31FC7EB4.41C6@netscape.com',
  },
  'dsn-rbmail-multipart_report_multiple_status.eml': {
    kind: 'hard',
    recipients: ['u@ci.com'],
    originalMessageId: '4c2a146147ac8_61ff157c4ec1652df@s.h.c.mail',
  },
  'dsn-postalmime-bounce.eml': {
    kind: 'hard',
    recipients: ['htfgvhyufthdgcvhgjyfthgc@ethereal.email'],
    originalMessageId: 'e85f1c9b-9b51-4028-8ec0-0a657155028e@app.fastmail.com',
  },
  // Says it failed, not for whom, and carries no original.
  'mal-enmime-multipart-wo-boundary.eml': { recipients: [], originalMessageId: null },
};

// Files allowed to miss, each with why. Empty: every file is recognised as expected.
const KNOWN_MISSES: Record<string, string> = {};

function readManifest(): Array<{ file: string; description: string }> {
  const lines = readFileSync(manifestPath, 'utf8')
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '');
  const header = lines[0]!.split('\t');
  const fileColumn = header.indexOf('local_file');
  const descriptionColumn = header.indexOf('what_is_special');
  return lines.slice(1).map((line) => {
    const cells = line.split('\t');
    return {
      file: cells[fileColumn]!,
      description: (cells[descriptionColumn] ?? '').replace(/^"|"$/g, '').replace(/""/g, '"'),
    };
  });
}

function percent(n: number, of: number): string {
  return `${n}/${of} (${of === 0 ? 100 : Math.round((n / of) * 100)}%)`;
}

describe.skipIf(!corpusExists)(`detectBounce: corpus at ${corpusDir}`, () => {
  it('recognises the bounces, gets their details right, and flags nothing else', async () => {
    const manifest = readManifest().filter((m) => m.file.startsWith('eml/'));
    const described = new Map(manifest.map((m) => [path.basename(m.file), m.description]));
    const files = readdirSync(emlDir)
      .filter((f) => f.endsWith('.eml'))
      .sort();
    expect(files.length).toBeGreaterThan(0);

    const expected = new Map<string, Expected>();
    for (const file of files) {
      const description = described.get(file) ?? '';
      if (!inTestSet(file, description)) continue;
      const label = LABEL_OVERRIDES[file]?.bounce ?? labelFromDescription(file, description);
      expect(label, `${file}: no label from "${description}" and no override`).toBeDefined();
      expected.set(file, { bounce: label!, ...(label ? FILE_FACTS[file] : {}) });
    }

    const stats = {
      bounces: 0,
      recognised: 0,
      kind: [0, 0],
      recipients: [0, 0],
      originalId: [0, 0],
      testSetNot: [0, 0],
      others: [0, 0],
    };
    const mismatches: string[] = [];
    const misses: string[] = [];
    for (const file of files) {
      const raw = readFileSync(path.join(emlDir, file));
      const parsed = await parseMessage(raw);
      let result: BounceInfo | null;
      try {
        result = detectBounce(raw, parsed);
      } catch (error) {
        mismatches.push(`${file}: threw ${String(error)}`);
        continue;
      }
      const want = expected.get(file);
      const wrong = (what: string): void => {
        (KNOWN_MISSES[file] ? misses : mismatches).push(`${file}: ${what}`);
      };
      if (!want || !want.bounce) {
        const counter = want ? stats.testSetNot : stats.others;
        counter[1]!++;
        if (result) {
          counter[0]!++;
          wrong(`false positive ${JSON.stringify(result)}`);
        }
        continue;
      }
      stats.bounces++;
      if (!result) {
        wrong('bounce not recognised');
        continue;
      }
      stats.recognised++;
      if (want.kind) {
        stats.kind[1]!++;
        if (result.kind === want.kind) stats.kind[0]!++;
        else wrong(`kind ${result.kind}, expected ${want.kind}`);
      }
      if (want.recipients && want.recipients.length > 0) {
        stats.recipients[1]!++;
        const got = result.recipients.map((r) => r.address);
        if (JSON.stringify(got) === JSON.stringify(want.recipients)) stats.recipients[0]!++;
        else wrong(`recipients ${JSON.stringify(got)}, expected ${JSON.stringify(want.recipients)}`);
      } else if (want.recipients && result.recipients.length > 0)
        wrong(`recipients ${JSON.stringify(result.recipients)}, expected none`);
      if (want.originalMessageId !== undefined) {
        if (want.originalMessageId !== null) stats.originalId[1]!++;
        if (result.originalMessageId === want.originalMessageId) {
          if (want.originalMessageId !== null) stats.originalId[0]!++;
        } else wrong(`originalMessageId ${result.originalMessageId}, expected ${want.originalMessageId}`);
      }
    }

    console.info(
      `[detect-bounce] ${files.length} corpus messages, ${expected.size} in the test set. ` +
        `bounces recognised: ${percent(stats.recognised, stats.bounces)}, ` +
        `hard/soft right: ${percent(stats.kind[0]!, stats.kind[1]!)}, ` +
        `failed recipient right: ${percent(stats.recipients[0]!, stats.recipients[1]!)}, ` +
        `original Message-ID found: ${percent(stats.originalId[0]!, stats.originalId[1]!)}, ` +
        `false positives: ${stats.testSetNot[0]}/${stats.testSetNot[1]} (delays, receipts, auto-replies, traps) ` +
        `+ ${stats.others[0]}/${stats.others[1]} (rest of the corpus)`,
    );
    if (misses.length > 0) console.info(`[detect-bounce] known misses:\n  ${misses.join('\n  ')}`);
    expect(mismatches).toEqual([]);
    expect(stats.bounces).toBeGreaterThan(0);
  });
});
