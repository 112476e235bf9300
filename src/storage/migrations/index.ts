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
// Booking pages (issue 16, H8).
import * as bookingPages from './0017-booking-pages.js';

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
  // Booking pages (issue 16, H8).
  '0017-booking-pages': bookingPages,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
