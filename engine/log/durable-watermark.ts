/**
 * How far each area's log is known to be on disk, so tails never hand a vehicle a record that a
 * power loss could take back and a later append could reuse the offset of [DESIGN "Nothing
 * acknowledged is lost", "Offsets are the contract"].
 *
 * Two ways a record becomes known-durable:
 *  - this process flushed the commit that wrote it (`flushed`): an LMDB flush syncs every commit
 *    before it too, and offsets are assigned in commit order, so everything <= offset is durable;
 *  - a tail saw commits of ANOTHER process (several engine workers share one store) that it cannot
 *    vouch for: `request` runs one env-wide sync (fdatasync of the data file covers every process's
 *    committed pages) and then counts everything up to the head it saw as durable.
 * Syncs are coalesced: one in flight at a time, all areas requested meanwhile ride the next one.
 */
export class DurableWatermark {
  private readonly through = new Map<string, number>();
  private readonly requested = new Map<string, number>();
  private readonly waiters = new Map<string, { head: number; resolve: () => void; reject: (e: unknown) => void }[]>();
  private syncing = false;
  /** Settles when the running sync calls back (undefined when none runs). */
  private inFlight: Promise<void> | undefined;
  private closed = false;

  constructor(
    /** Starts an env-wide sync; calls back once it is on disk (or failed). */
    private readonly sync: (done: (error?: unknown) => void) => void,
    /** Records of `area` up to a new ceiling may now be delivered. */
    private readonly onDurable: (area: string) => void,
    private readonly onError: (error: unknown, where: string) => void,
  ) {}

  /** Highest offset of `area` known to be on disk (0 until the first flush or sync covers it). */
  ceiling(area: string): number {
    return this.through.get(area) ?? 0;
  }

  flushed(area: string, offset: number): void {
    if (offset > (this.through.get(area) ?? 0)) this.through.set(area, offset);
    const waiting = this.waiters.get(area);
    if (waiting === undefined) return;
    for (let i = waiting.length - 1; i >= 0; i--) {
      if (waiting[i].head <= offset) {
        waiting[i].resolve();
        waiting.splice(i, 1);
      }
    }
    if (waiting.length === 0) this.waiters.delete(area);
  }

  /**
   * Resolves once `area` is durable up to `head` (at once if it already is). For readers that
   * hand records out without a tail: area state and range reads. Rejects if the sync fails.
   */
  whenDurable(area: string, head: number): Promise<void> {
    if (head <= this.ceiling(area)) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error('log closed'));
    return new Promise((resolve, reject) => {
      let waiting = this.waiters.get(area);
      if (waiting === undefined) this.waiters.set(area, (waiting = []));
      waiting.push({ head, resolve, reject });
      this.request(area, head);
    });
  }

  request(area: string, head: number): void {
    if (this.closed || head <= this.ceiling(area)) return;
    if (head > (this.requested.get(area) ?? 0)) this.requested.set(area, head);
    this.kick();
  }

  close(): void {
    this.closed = true;
    this.requested.clear();
    this.failWaiters(new Error('log closed'));
  }

  /**
   * Resolves once no sync is running. The log's close awaits it before closing the LMDB env: an
   * env-wide sync runs on a libuv pool thread against the env, and closing the env under it killed
   * the process (seen as a vitest worker exiting mid-file in engine/log/embedded.test.ts).
   */
  idle(): Promise<void> {
    return this.inFlight ?? Promise.resolve();
  }

  private failWaiters(error: unknown, areas?: readonly string[]): void {
    for (const area of areas ?? [...this.waiters.keys()]) {
      for (const w of this.waiters.get(area) ?? []) w.reject(error);
      this.waiters.delete(area);
    }
  }

  private kick(): void {
    if (this.syncing || this.requested.size === 0 || this.closed) return;
    const batch = [...this.requested];
    this.requested.clear();
    this.syncing = true;
    let finished!: () => void;
    this.inFlight = new Promise<void>((resolve) => (finished = resolve));
    this.sync((error) => {
      this.syncing = false;
      this.inFlight = undefined;
      finished();
      if (this.closed) return;
      if (error) {
        // Nothing is marked durable; the next tail poll asks again, waiting readers fail.
        this.onError(error, 'durability sync');
        this.failWaiters(error, batch.map(([area]) => area));
      } else {
        for (const [area, head] of batch) {
          this.flushed(area, head);
          this.onDurable(area);
        }
      }
      this.kick();
    });
  }
}
