// The waiting of a long-lived runner: sleep until a timer fires, or until woken ("sync now", a push, a stop).
// A wake that comes while the runner is busy is remembered, so the next sleep returns at once.
export class WakeableSleep {
  private wakeUp: (() => void) | null = null;
  private requested = false;

  /** Ends the current sleep now, or the next one at once. */
  wake(): void {
    this.requested = true;
    this.wakeUp?.();
  }

  /** Ends the current sleep without leaving a wake behind (stop, or a race lost to another event). */
  interrupt(): void {
    this.wakeUp?.();
  }

  sleep(ms: number, stopped = false): Promise<void> {
    if (this.requested || stopped) {
      this.requested = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        // A stale sleep (lost a race against a closed connection) must not clear a newer one's hook.
        if (this.wakeUp === done) this.wakeUp = null;
        this.requested = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }
}
