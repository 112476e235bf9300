// Every migration, in order. Kysely's Migrator takes a lock on both dialects, so several processes
// starting at once migrate once.
import type { Migration, MigrationProvider } from 'kysely';
import * as initialSchema from './0001-initial-schema.js';
import * as outboxAppend from './0002-outbox-append.js';
import * as calendar from './0003-calendar.js';
import * as accountLeases from './0004-account-leases.js';
import * as apiTokenExpiry from './0005-api-token-expiry.js';
import * as addressVerification from './0006-address-verification.js';
import * as messageHolders from './0007-message-holders.js';
import * as bccFilings from './0008-bcc-filings.js';
import * as team from './0009-team.js';
// Issue 15, templates (H1).
import * as templates from './0010-templates.js';
// Issue 15, send later and follow-up reminders (H2).
import * as scheduledSend from './0011-scheduled-send.js';
// Issue 15, tracking (H3).
import * as tracking from './0012-tracking.js';
// Read state and the live inbox (issue 15, H4).
import * as readStateLive from './0013-read-state-live.js';
// Signatures (issue 15, H5).
import * as signatures from './0014-signatures.js';
// Localised server texts (H6, issue 15)
import * as serverTextCodes from './0015-server-text-codes.js';
// Booking pages (issue 16, H8).
import * as bookingPages from './0017-booking-pages.js';
// Sequences (issue 17, S1).
import * as sequences from './0018-sequences.js';
// Calendar push: Google watch channels and Graph subscriptions (issue 16, P1).
import * as calendarChannels from './0019-calendar-channels.js';
// The audit log (issue 19).
import * as auditLog from './0020-audit-log.js';
// Data-subject rights: erased addresses kept as hashes (issue 19, A4).
import * as erasedAddresses from './0022-erased-addresses.js';
import * as messageSearch from './0023-message-search.js';
// Blobs in PostgreSQL, indexes for their collection (issue 18, part B).
import * as blobContents from './0024-blob-contents.js';
import * as dataScaleIndexes from './0025-data-scale-indexes.js';
import * as searchViewTokens from './0026-search-view-tokens.js';
import * as unreadIndex from './0027-unread-index.js';
import * as searchVocabulary from './0028-search-vocabulary.js';
import * as searchWords from './0029-search-words.js';
import * as searchWordsSqlite from './0030-search-words-sqlite.js';
import * as searchRanking from './0031-search-ranking.js';
import * as searchMonths from './0032-search-months.js';
import * as contactTimelineDates from './0033-contact-timeline-dates.js';
import * as blobParts from './0034-blob-parts.js';
import * as dropRedundantIndexes from './0035-drop-redundant-indexes.js';
import * as searchMergeWidth from './0036-search-merge-width.js';
import * as contactSearchIndex from './0037-contact-search-index.js';

const migrations: Record<string, Migration> = {
  '0001-initial-schema': initialSchema,
  '0002-outbox-append': outboxAppend,
  '0003-calendar': calendar,
  '0004-account-leases': accountLeases,
  '0005-api-token-expiry': apiTokenExpiry,
  '0006-address-verification': addressVerification,
  '0007-message-holders': messageHolders,
  '0008-bcc-filings': bccFilings,
  '0009-team': team,
  '0010-templates': templates,
  '0011-scheduled-send': scheduledSend,
  // Issue 15, tracking (H3).
  '0012-tracking': tracking,
  // Read state and the live inbox (issue 15, H4).
  '0013-read-state-live': readStateLive,
  '0014-signatures': signatures,
  // Localised server texts (H6, issue 15)
  '0015-server-text-codes': serverTextCodes,
  // Booking pages (issue 16, H8).
  '0017-booking-pages': bookingPages,
  // Sequences (issue 17, S1).
  '0018-sequences': sequences,
  // Calendar push (issue 16, P1).
  '0019-calendar-channels': calendarChannels,
  '0020-audit-log': auditLog,
  // Data-subject rights (issue 19, A4).
  '0022-erased-addresses': erasedAddresses,
  // Full-text search of bodies and attachment names (issue 18).
  '0023-message-search': messageSearch,
  // Blobs in PostgreSQL (issue 18, part B).
  '0024-blob-contents': blobContents,
  // Data scale (issue 18, part D).
  '0025-data-scale-indexes': dataScaleIndexes,
  // Full-text search fast at scale: the inbox view in the index (issue 18).
  '0026-search-view-tokens': searchViewTokens,
  // The unread badge at scale (issue 18).
  '0027-unread-index': unreadIndex,
  // The words a typed prefix stands for, SQLite (issue 18).
  '0028-search-vocabulary': searchVocabulary,
  // The same, PostgreSQL: a table kept by indexing (issue 18).
  '0029-search-words': searchWords,
  // SQLite's as a table too: fts5vocab counted every posting of each word it listed (issue 18).
  '0030-search-words-sqlite': searchWordsSqlite,
  // PostgreSQL's documents with their dates and ranked fields, their ids kept in the row (issue 18).
  '0031-search-ranking': searchRanking,
  // PostgreSQL's view tokens by month: a common word's search reads a month or two of a user's mail (issue 18).
  '0032-search-months': searchMonths,
  // A contact's timeline by date from its own links (issue 18).
  '0033-contact-timeline-dates': contactTimelineDates,
  // Big blobs in pieces on PostgreSQL, written from a file without holding it whole (issue 18).
  '0034-blob-parts': blobParts,
  '0035-drop-redundant-indexes': dropRedundantIndexes,
  // SQLite's full-text index merges 16 segments at a time: half the rewriting of its postings (issue 18).
  '0036-search-merge-width': searchMergeWidth,
  // Contact search by a trigram index instead of a walk of the organisation (issue 18).
  '0037-contact-search-index': contactSearchIndex,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
