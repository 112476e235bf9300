// Mail Conversa itself writes to a person (an address-verification code, an invitation): plain text from
// `no-reply@<PUBLIC_URL's host>`, through the application relay (APP_SMTP_*), DKIM-signed when DKIM is set. One way
// to send it, so every such mail has the same sender, time limits and TLS rules.
import nodemailer from 'nodemailer';
import type { DKIMOptions } from 'nodemailer';
import { appRelayTransportOptions, type AppSmtpConfig } from './smtp-settings.js';

const SEND_TIMEOUT_MS = 30_000;

export interface SystemMailDeps {
  appSmtp: AppSmtpConfig;
  dkim?: DKIMOptions | null;
  publicUrl: string;
  tlsRejectUnauthorized?: boolean;
}

/** Sends one plain-text message through the relay; rejects with the relay's error when it does not take it. */
export async function sendSystemMail(
  deps: SystemMailDeps,
  mail: { to: string; subject: string; text: string },
): Promise<void> {
  const transporter = nodemailer.createTransport(
    appRelayTransportOptions(deps.appSmtp, deps.dkim, {
      connectionTimeoutMs: SEND_TIMEOUT_MS,
      greetingTimeoutMs: SEND_TIMEOUT_MS,
      socketTimeoutMs: SEND_TIMEOUT_MS,
      ...(deps.tlsRejectUnauthorized === false ? { tlsRejectUnauthorized: false } : {}),
    }),
  );
  try {
    await transporter.sendMail({
      from: { name: 'Conversa', address: `no-reply@${new URL(deps.publicUrl).hostname}` },
      to: mail.to,
      subject: mail.subject,
      text: mail.text,
    });
  } finally {
    transporter.close();
  }
}
