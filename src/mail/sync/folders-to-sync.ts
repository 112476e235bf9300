// Which of an account's folders a pass walks, in what order: the inbox first (today's mail first), then sent,
// then archives. Where the server has Gmail's extension, All Mail holds every message once: it alone is enough.
// One-way accounts scan nothing: only the BCC address and mail sent from the CRM bring mail in.
import type { MailFoldersTable } from '../../storage/schema.js';

const ORDER: Record<MailFoldersTable['role'], number> = { inbox: 0, sent: 1, all: 2, archive: 3, other: 4 };

export function foldersToSync(
  folders: MailFoldersTable[],
  account: { syncMode: 'two-way' | 'one-way'; capabilities: Map<string, unknown> | Set<string> },
): MailFoldersTable[] {
  if (account.syncMode === 'one-way') return [];
  const allMail = folders.find((f) => f.role === 'all');
  if (allMail && account.capabilities.has('X-GM-EXT-1')) return [allMail];
  return folders.filter((f) => f.role !== 'other').sort((a, b) => ORDER[a.role] - ORDER[b.role]);
}
