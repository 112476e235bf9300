// The deliverability report of one account: its sender domain checked against the SMTP server it actually
// sends through (its own, the application's relay, or a custom one) and the DKIM selector that server signs with.
import type { Db } from '../../storage/database.js';
import type { SecretBox } from '../../core/secret-box.js';
import type { User } from '../../users/users.js';
import { getAccount } from '../accounts/email-accounts.js';
import { checkDeliverability, type DeliverabilityReport } from './deliverability.js';
import type { DkimConfig } from './dkim.js';
import type { DnsResolver } from './dns-resolver.js';
import { getSmtpSettings, type AppSmtpConfig } from './smtp-settings.js';

export interface AccountDeliverabilityDeps {
  db: Db;
  secrets: SecretBox;
  appSmtp: AppSmtpConfig | null;
  dkim: DkimConfig | null;
  resolver: DnsResolver;
}

export async function accountDeliverability(
  deps: AccountDeliverabilityDeps,
  user: User,
  accountId: string,
  signal?: AbortSignal,
): Promise<DeliverabilityReport> {
  const account = await getAccount({ db: deps.db, bccDomain: '' }, user, accountId);
  const smtp = await getSmtpSettings(deps, user, accountId);
  const domain = account.email.slice(account.email.lastIndexOf('@') + 1);
  const viaRelay = smtp.mode === 'app' && deps.appSmtp !== null;
  const smtpHost = viaRelay ? deps.appSmtp!.host : smtp.mode === 'custom' && smtp.host ? smtp.host : account.smtp.host;
  return checkDeliverability({
    domain,
    smtpHost,
    // The relay signs with its own selector; a mailbox provider's selector is looked up among the usual ones.
    dkimSelector: viaRelay && deps.dkim ? deps.dkim.keySelector : null,
    ...(viaRelay && deps.dkim ? { dkimKeyTarget: `${deps.dkim.keySelector}._domainkey.${deps.dkim.domainName}` } : {}),
    resolver: deps.resolver,
    ...(signal ? { signal } : {}),
  });
}
