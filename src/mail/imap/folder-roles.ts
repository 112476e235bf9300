// Which folders of a mailbox Conversa syncs, and what each is for. SPECIAL-USE flags first (RFC 6154);
// without them, the names servers and clients use in many languages, Portuguese included.
import type { MailFoldersTable } from '../../storage/schema.js';

export type FolderRole = MailFoldersTable['role'];

export interface ListedFolder {
  path: string;
  specialUse?: string | undefined;
  flags: Set<string>;
  delimiter?: string | undefined;
}

const SENT_NAMES = [
  'sent',
  'sent items',
  'sent mail',
  'sent messages',
  'enviados',
  'itens enviados',
  'mensagens enviadas',
  'e-mails enviados',
  'emails enviados',
  'correo enviado',
  'elementos enviados',
  'gesendet',
  'gesendete elemente',
  'gesendete objekte',
  'envoyés',
  'éléments envoyés',
  'messages envoyés',
  'inviati',
  'posta inviata',
  'elementi inviati',
  'verzonden',
  'verzonden items',
  'skickat',
  'skickade objekt',
  'sendt',
  'sendte elementer',
  'wysłane',
  'отправленные',
  '已发送',
];
const ARCHIVE_NAMES = ['archive', 'archives', 'arquivo', 'arquivos', 'archivo', 'archiv', 'archief'];
const ALL_MAIL_NAMES = ['all mail', 'todos os e-mails', 'todos los correos', 'alle nachrichten'];
const SKIPPED_NAMES = [
  'trash',
  'deleted items',
  'deleted messages',
  'lixeira',
  'itens excluídos',
  'itens excluidos',
  'papelera',
  'papierkorb',
  'bin',
  'junk',
  'junk e-mail',
  'junk email',
  'spam',
  'lixo eletrônico',
  'lixo eletronico',
  'bulk mail',
  'drafts',
  'rascunhos',
  'borradores',
  'entwürfe',
  'outbox',
  'caixa de saída',
];

function leafName(folder: ListedFolder): string {
  const parts = folder.delimiter ? folder.path.split(folder.delimiter) : [folder.path];
  return (parts[parts.length - 1] ?? folder.path).trim().toLowerCase();
}

/** The role of a folder, or null when it is not synced (Trash, Junk, Drafts, \Noselect, other folders). */
export function folderRole(folder: ListedFolder): FolderRole | null {
  if (folder.flags.has('\\Noselect') || folder.flags.has('\\NonExistent')) return null;
  switch (folder.specialUse) {
    case '\\Inbox':
      return 'inbox';
    case '\\Sent':
      return 'sent';
    case '\\All':
      return 'all';
    case '\\Archive':
      return 'archive';
    case '\\Trash':
    case '\\Junk':
    case '\\Drafts':
    case '\\Flagged':
      return null;
    default:
      break;
  }
  if (folder.path.toUpperCase() === 'INBOX') return 'inbox';
  const name = leafName(folder);
  if (SKIPPED_NAMES.includes(name)) return null;
  if (SENT_NAMES.includes(name)) return 'sent';
  if (ALL_MAIL_NAMES.includes(name)) return 'all';
  if (ARCHIVE_NAMES.includes(name)) return 'archive';
  return null;
}
