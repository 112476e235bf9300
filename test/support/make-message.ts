// Builds RFC 5322 messages for tests: plain text, optional attachment, threading headers.
import { randomBytes } from 'node:crypto';

export interface MessageSpec {
  from: string;
  to: string[];
  cc?: string[];
  subject?: string;
  date?: Date;
  messageId?: string | null;
  inReplyTo?: string;
  references?: string[];
  body?: string;
  attachment?: { filename: string; contentType: string; content: Buffer };
  headers?: Record<string, string>;
}

export function makeMessageId(): string {
  return `<${randomBytes(8).toString('hex')}@test.example>`;
}

export function makeMessage(spec: MessageSpec): string {
  const date = spec.date ?? new Date();
  const lines = [
    `From: ${spec.from}`,
    `To: ${spec.to.join(', ')}`,
    ...(spec.cc?.length ? [`Cc: ${spec.cc.join(', ')}`] : []),
    `Subject: ${spec.subject ?? 'Hello'}`,
    `Date: ${date.toUTCString().replace('GMT', '+0000')}`,
    ...(spec.messageId === null ? [] : [`Message-ID: ${spec.messageId ?? makeMessageId()}`]),
    ...(spec.inReplyTo ? [`In-Reply-To: ${spec.inReplyTo}`] : []),
    ...(spec.references?.length ? [`References: ${spec.references.join(' ')}`] : []),
    ...Object.entries(spec.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
    'MIME-Version: 1.0',
  ];
  const body = spec.body ?? `Body of ${spec.subject ?? 'Hello'}`;
  if (!spec.attachment) {
    return [...lines, 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', body, ''].join(
      '\r\n',
    );
  }
  const boundary = `b${randomBytes(6).toString('hex')}`;
  const encoded = spec.attachment.content.toString('base64').replace(/.{76}/g, '$&\r\n');
  return [
    ...lines,
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    '',
    body,
    `--${boundary}`,
    `Content-Type: ${spec.attachment.contentType}; name="${spec.attachment.filename}"`,
    `Content-Disposition: attachment; filename="${spec.attachment.filename}"`,
    'Content-Transfer-Encoding: base64',
    '',
    encoded,
    `--${boundary}--`,
    '',
  ].join('\r\n');
}
