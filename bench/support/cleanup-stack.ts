// What a benchmark started is stopped by PID, whatever happens: on success, failure, Ctrl-C or the hard time limit.
// Each start pushes its stop on `cleanups`; `runCleanups` pops them once, newest first. Child PIDs are also killed
// from an exit hook, the last resort when the process ends without the async cleanup (startDovecot has its own).

export const cleanups: Array<{ what: string; fn: () => Promise<void> }> = [];
export const childPids = new Set<number>();
let cleaning: Promise<void> | undefined;

export function runCleanups(): Promise<void> {
  return (cleaning ??= (async () => {
    while (cleanups.length > 0) {
      const step = cleanups.pop()!;
      try {
        await step.fn();
      } catch (error) {
        console.error(`bench: cleanup "${step.what}" failed: ${(error as Error).message}`);
      }
    }
  })());
}

export interface GuardOptions {
  maxMinutes: string;
  /** What the messages say is being stopped ("servers", "everything"). */
  stopping: string;
  /** Called first on Ctrl-C or the hard limit (a scenario's measurement loops stop on it). */
  onStop?: () => void;
  /** Called first from the exit hook (put back what the run changed on the machine). */
  onExit?: () => void;
}

/** Installs the exit hook, the signal handlers and the hard time limit; returns the limit's timer. */
export function guardProcess(options: GuardOptions): NodeJS.Timeout {
  process.on('exit', () => {
    options.onExit?.();
    for (const pid of childPids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      options.onStop?.();
      console.error(`bench: ${sig}, stopping ${options.stopping}`);
      void runCleanups().finally(() => process.exit(130));
    });
  }
  const hardLimit = setTimeout(
    () => {
      options.onStop?.();
      console.error(`bench: hard time limit of ${options.maxMinutes} min reached, stopping ${options.stopping}`);
      void runCleanups().finally(() => process.exit(2));
    },
    Number(options.maxMinutes) * 60_000,
  );
  hardLimit.unref();
  return hardLimit;
}
