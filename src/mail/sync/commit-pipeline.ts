// The overlap of a folder sync: while batch n is parsed (worker threads), its blobs written (libuv pool) and stored
// (the database), the IMAP connection already scans and fetches batch n+1. Commits still happen strictly one after
// another in the order the batches were added, each with its cursor, so a crash leaves a prefix of the batches
// committed and nothing after a gap: a restart rescans from the last committed cursor, losing and repeating nothing.
//
// Memory is bounded two ways: at most `maxBatches` batches are waiting to commit, and the bytes they hold (the
// fetched sources) stay under `maxBytes`; a batch larger than that alone waits until nothing else is in flight.

interface Pending {
  bytes: number;
  done: Promise<void>;
}

export class CommitPipeline {
  private tail: Promise<void> = Promise.resolve();
  private readonly pending: Pending[] = [];
  private failure: { error: unknown } | null = null;

  constructor(
    private readonly maxBatches: number,
    private readonly maxBytes: number,
    private readonly signal: AbortSignal,
  ) {}

  /** Bytes of the batches fetched and not yet committed. */
  inFlightBytes(): number {
    let sum = 0;
    for (const p of this.pending) sum += p.bytes;
    return sum;
  }

  /**
   * Waits until a batch of `bytes` may be fetched: fewer than maxBatches waiting and the bytes fit beside them (a
   * batch bigger than the budget waits for an empty pipeline). Throws a commit's failure, so the producer stops.
   */
  async room(bytes: number): Promise<void> {
    this.throwIfFailed();
    while (
      this.pending.length > 0 &&
      (this.pending.length >= this.maxBatches || this.inFlightBytes() + bytes > this.maxBytes)
    ) {
      await this.pending[0]!.done;
      this.throwIfFailed();
    }
  }

  /**
   * Queues a commit of `bytes` held in memory. It starts once every earlier one has committed, and is skipped when
   * an earlier one failed or the sync was aborted: a later cursor never lands after a gap.
   */
  add(bytes: number, commit: () => Promise<void>): void {
    const entry: Pending = { bytes, done: Promise.resolve() };
    entry.done = this.tail = this.tail
      .then(async () => {
        if (this.failure || this.signal.aborted) return;
        try {
          await commit();
        } catch (error) {
          this.failure = { error };
        }
      })
      .finally(() => {
        this.pending.splice(this.pending.indexOf(entry), 1);
      });
    this.pending.push(entry);
  }

  /** Every queued commit has run (or been skipped); throws the first failure. */
  async drain(): Promise<void> {
    await this.tail;
    this.throwIfFailed();
  }

  /** Waits for what is queued without throwing: for a producer that is failing already. */
  async settle(): Promise<void> {
    await this.tail;
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }
}
