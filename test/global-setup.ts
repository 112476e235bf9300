// Vitest globalSetup: starts ONE Dovecot (with its SMTP sink) and ONE Radicale for the whole run and
// hands their serializable connection info to the test workers via provide(); tests build their
// helpers from it (test/support/servers.ts). The returned teardown stops both by PID.

import type { TestProject } from 'vitest/node';
import { startDovecot, type DovecotServer } from './servers/dovecot.js';
import { startRadicale, type RadicaleServer } from './servers/radicale.js';

function elapsed(since: number): string {
  return `${Math.round(performance.now() - since)} ms`;
}

export default async function setup({ provide }: TestProject): Promise<() => Promise<void>> {
  const t0 = performance.now();
  // Start both at once; if either fails, stop the one that did start before failing the run.
  const [dovecotResult, radicaleResult] = await Promise.allSettled([startDovecot(), startRadicale()]);
  const started: Array<DovecotServer | RadicaleServer> = [];
  if (dovecotResult.status === 'fulfilled') started.push(dovecotResult.value);
  if (radicaleResult.status === 'fulfilled') started.push(radicaleResult.value);

  const stopTimes: string[] = [];
  const stopAll = async (): Promise<void> => {
    const results = await Promise.allSettled(
      started.map(async (server) => {
        const t = performance.now();
        await server.stop();
        stopTimes.push(`${'imapPort' in server ? 'Dovecot' : 'Radicale'} ${elapsed(t)}`);
      }),
    );
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failures.length > 0)
      throw new AggregateError(
        failures.map((f) => f.reason as unknown),
        'stopping test servers failed',
      );
  };

  if (dovecotResult.status === 'rejected' || radicaleResult.status === 'rejected') {
    await stopAll().catch(() => undefined);
    const reasons = [dovecotResult, radicaleResult]
      .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      .map((r) => r.reason as unknown);
    throw new AggregateError(reasons, `test servers failed to start: ${reasons.map(String).join('; ')}`);
  }

  const dovecot = dovecotResult.value;
  const radicale = radicaleResult.value;
  provide('dovecot', dovecot.info);
  provide('radicale', radicale.info);
  console.info(
    `[test servers] Dovecot pid ${dovecot.pid} (imap ${dovecot.imapPort}, submission ${dovecot.submissionPort}, sink ${dovecot.sink.port}), ` +
      `Radicale pid ${radicale.pid} (${radicale.url}) up in ${elapsed(t0)}`,
  );

  return async () => {
    const t1 = performance.now();
    await stopAll();
    console.info(`[test servers] stopped in ${elapsed(t1)} (${stopTimes.join(', ')})`);
  };
}
