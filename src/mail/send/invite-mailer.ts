// Invitations by mail: the link an administrator made is sent through the application relay (APP_SMTP_*), in the
// invitee's language. users/ cannot import mail/ (it is a lower floor), so the composition root hands this function
// to the team routes; without a relay there is none and the admin passes the link on themselves.
import type { DKIMOptions } from 'nodemailer';
import type { InviteMail, MailInvite } from '../../users/team.js';
import type { AppSmtpConfig } from './smtp-settings.js';
import { sendSystemMail } from './system-mail.js';

const TEXTS = {
  en: {
    subject: (m: InviteMail) => `${m.invitedBy} invited you to ${m.orgName} on Conversa`,
    body: (m: InviteMail) =>
      `${m.invitedBy} invited you to join ${m.orgName} on Conversa, the team's CRM.\n\n` +
      `Open this link to choose your password and sign in:\n${m.inviteUrl}\n\n` +
      `The link works once, until ${m.expiresAt.toUTCString()}. If you did not expect it, ignore this message.\n`,
  },
  'pt-BR': {
    subject: (m: InviteMail) => `${m.invitedBy} convidou você para ${m.orgName} no Conversa`,
    body: (m: InviteMail) =>
      `${m.invitedBy} convidou você para entrar em ${m.orgName} no Conversa, o CRM da equipe.\n\n` +
      `Abra este link para escolher sua senha e entrar:\n${m.inviteUrl}\n\n` +
      `O link funciona uma vez, até ${m.expiresAt.toUTCString()}. Se você não esperava este convite, ignore esta mensagem.\n`,
  },
} as const;

/** The invitation mailer of this server, or null when no application relay is configured. */
export function createInviteMailer(deps: {
  appSmtp: AppSmtpConfig | null;
  dkim?: DKIMOptions | null;
  publicUrl: string;
  tlsRejectUnauthorized?: boolean;
}): MailInvite | null {
  const app = deps.appSmtp;
  if (!app) return null;
  return async (mail) => {
    const texts = TEXTS[mail.locale];
    await sendSystemMail(
      { ...deps, appSmtp: app },
      { to: mail.to, subject: texts.subject(mail), text: texts.body(mail) },
    );
  };
}
