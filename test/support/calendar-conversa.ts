// A Conversa server for the calendar tests: the real composition (startTestConversa) with a chosen calendar
// interval and window, and handles on its calendar supervisor and background work.
import type { BackgroundWork } from '../../src/app/background-work.js';
import type { CalendarSupervisor } from '../../src/calendar/calendar-supervisor.js';
import type { WindowOptions } from '../../src/calendar/meetings/account-context.js';
import type { Db } from '../../src/storage/database.js';
import { startTestConversa } from './conversa-server.js';
import type { TestDatabase } from './databases.js';

export interface CalendarConversa {
  url: string;
  db: Db;
  calendar: CalendarSupervisor;
  mail: BackgroundWork;
  openApi: Record<string, unknown>;
  token: string;
  logs: string[];
  api(
    method: string,
    route: string,
    body?: unknown,
    token?: string,
  ): Promise<{ status: number; body: any; text: string }>;
  addUser(): Promise<{ id: string; token: string; email: string }>;
  stop(): Promise<void>;
}

export interface CalendarConversaOptions {
  /** Between whole calendar passes (default 1 s). */
  intervalMs?: number;
  /** Between calendar change checks (default: the production 30 s, so never before the next whole pass). */
  checkIntervalMs?: number;
  window?: WindowOptions;
  /** A database made by createTestDatabase (PostgreSQL or SQLite); default: a fresh SQLite file. */
  database?: TestDatabase;
  /** More environment for its config (e.g. a CONVERSA_SECRET_KEY shared with another server on the database). */
  env?: Record<string, string>;
}

let counter = 0;

export async function startCalendarConversa(options: CalendarConversaOptions = {}): Promise<CalendarConversa> {
  const conversa = await startTestConversa(options.env ?? {}, options.database, {
    calendarIntervalMs: options.intervalMs ?? 1_000,
    ...(options.checkIntervalMs !== undefined ? { calendarCheckIntervalMs: options.checkIntervalMs } : {}),
    ...(options.window ? { calendarWindow: options.window } : {}),
    leases: { tickMs: 200 },
  });
  const background = conversa.server.background!;
  const addUser = () => conversa.addUser({ displayName: `Cal User ${++counter}` });
  const first = await addUser();
  const openApi = (await (await fetch(`${conversa.url}/api/openapi.json`)).json()) as Record<string, unknown>;
  return {
    url: conversa.url,
    db: conversa.server.storage.db,
    calendar: background.calendar,
    mail: background,
    openApi,
    token: first.token,
    logs: conversa.logs,
    api: (method, route, body, token = first.token) => conversa.api(method, route, body, token),
    addUser,
    stop: () => conversa.stop(),
  };
}
