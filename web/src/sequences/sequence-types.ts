// The sequence routes' shapes as the web app reads them (issue 17, contract.md "Additions"). Written here by hand
// because the server's schemas are being built at the same time: at merge these give way to the types exported from
// src/http/api-types.ts (see web/src/api/types.ts). What the contract fixes is required; what the server adds
// beyond it (id, createdAt, stats, …) is optional, and the pages read it with optional access.

export type StepType = 'email' | 'task';

export interface SequenceStep {
  type: StepType;
  waitMinutes: number;
  templateId?: string | null;
  subject?: string | null;
  html?: string | null;
  replyInThread?: boolean;
}

export interface SendWindow {
  timeZone: string;
  /** ISO weekdays: 1 = Monday … 7 = Sunday. */
  days: number[];
  from: string;
  to: string;
}

/** What POST /api/sequences takes and PATCH /api/sequences/:id takes in part. */
export interface SequenceInput {
  name: string;
  accountId: string;
  steps: SequenceStep[];
  sendWindow?: SendWindow | null;
  dailyLimit?: number | null;
  paused?: boolean;
}

export interface StepStats {
  index: number;
  sent?: number;
  replied?: number;
  opened?: number;
  clicked?: number;
  automatedOpens?: number;
}

export interface SequenceStats {
  enrolled?: number;
  active?: number;
  sent?: number;
  replied?: number;
  bounced?: number;
  unsubscribed?: number;
  booked?: number;
  opened?: number;
  clicked?: number;
  automatedOpens?: number;
  replyRate?: number;
  steps?: StepStats[];
}

export interface Sequence extends SequenceInput {
  id: string;
  createdAt?: string;
  updatedAt?: string;
  stats?: SequenceStats;
  /** The server's count of enrollments and its per-step numbers (S1's answer). */
  enrolled?: number;
  stepStats?: StepStats[];
}

export interface SequenceList {
  items: Sequence[];
}

export const ENROLLMENT_STATES = [
  'active',
  'finished',
  'replied',
  'bounced',
  'unsubscribed',
  'booked',
  'paused',
] as const;
export type EnrollmentState = (typeof ENROLLMENT_STATES)[number];

export interface Enrollment {
  contactId: string;
  state: EnrollmentState;
  step: number;
  nextAt?: string | null;
  /** Not in the contract; shown when the server adds it, else the page looks the contact up. */
  contactName?: string | null;
}

export interface EnrollmentList {
  items: Enrollment[];
}

export const SKIP_REASONS = [
  'already-enrolled',
  'no-address',
  'unsubscribed',
  'bounced',
  'in-other-sequence',
  'not-found',
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

export interface EnrollResult {
  enrolled: number;
  skipped: { contactId: string; reason: string }[];
}

export interface ContactEnrollment {
  sequenceId: string;
  sequenceName: string;
  state: EnrollmentState;
  step: number;
  nextAt?: string | null;
  steps?: { index: number; sentAt?: string | null; messageId?: string | null }[];
}

export interface ContactEnrollmentList {
  items: ContactEnrollment[];
}

/** The badge colour of an enrollment's state: the good outcomes green, the bad ones red or amber. */
export function stateBadgeClass(state: string): string {
  switch (state) {
    case 'active':
      return 'badge-info';
    case 'replied':
    case 'booked':
      return 'badge-success';
    case 'bounced':
      return 'badge-error';
    case 'unsubscribed':
      return 'badge-warning';
    default:
      return 'badge-neutral';
  }
}

/** True for a state the dictionary names (a newer server may send one this build does not know). */
export function isKnownState(state: string): state is EnrollmentState {
  return (ENROLLMENT_STATES as readonly string[]).includes(state);
}

export function isKnownReason(reason: string): reason is SkipReason {
  return (SKIP_REASONS as readonly string[]).includes(reason);
}

/**
 * The reply rate as a fraction. Computed from the counts when they are there, so the page never has to guess
 * whether the server's `replyRate` is a fraction or a percentage; the server's figure only when counts are absent.
 */
export function replyRateOf(stats: SequenceStats | undefined): number | null {
  if (!stats) return null;
  if (typeof stats.sent === 'number' && typeof stats.replied === 'number')
    return stats.sent > 0 ? stats.replied / stats.sent : null;
  if (typeof stats.replyRate === 'number') return stats.replyRate > 1 ? stats.replyRate / 100 : stats.replyRate;
  return null;
}

/** A fraction as a percentage in the user's language ("12.5%", "12,5%"). */
export function formatPercent(locale: string, fraction: number): string {
  return new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1 }).format(fraction);
}
