/**
 * TEST DOUBLE at the log boundary (the narrow AreaLog interface): wraps a real log and injects
 * the faults a test cannot make the real disk produce on demand [issue 13 fault injection]:
 *  - slow appends (a slow fsync: an append reaches the real log only `appendDelayMs` later);
 *  - failing appends (EIO / read-only remount: append rejects with the error, healthy() is false).
 * Everything else goes to the real log untouched. The full-disk case runs on a real tmpfs
 * instead (engine/e2e/full-disk.test.ts), which is what this double's failure mode is checked
 * against: the engine must answer both the same way.
 */
import type { AppendRequest, AppendResult, AreaLog, AreaState, LogRecord, TailHandle, TailListener } from '../types.ts';

export class FaultyLog implements AreaLog {
  /** ms added before an append reaches the real log (0 = none). */
  appendDelayMs = 0;
  /** While set, appends wait for it (a disk that does not answer until the test says so). */
  private gate: Promise<void> | undefined;
  /** Appends wait from now until the returned function is called. */
  hold(): () => void {
    let release!: () => void;
    this.gate = new Promise((r) => (release = r));
    return () => {
      this.gate = undefined;
      release();
    };
  }
  /** When set, appends reject with it and the log reports unhealthy. */
  failAppends: Error | undefined;
  appendsAttempted = 0;

  constructor(private readonly inner: AreaLog) {}

  get kind(): string {
    return this.inner.kind;
  }

  open(): Promise<void> {
    return this.inner.open();
  }

  state(area: string): Promise<AreaState> {
    return this.inner.state(area);
  }

  async append(area: string, request: AppendRequest): Promise<AppendResult> {
    this.appendsAttempted++;
    // The delay comes first, as with a slow fsync in 'flush' mode: neither the publisher's answer
    // nor any delivery happens before the record is durable.
    if (this.appendDelayMs > 0) await new Promise((r) => setTimeout(r, this.appendDelayMs));
    if (this.gate !== undefined) await this.gate;
    if (this.failAppends !== undefined) throw this.failAppends;
    return this.inner.append(area, request);
  }

  read(area: string, from: number, limit: number): Promise<LogRecord[]> {
    return this.inner.read(area, from, limit);
  }

  tail(area: string, after: number, listener: TailListener): TailHandle {
    return this.inner.tail(area, after, listener);
  }

  areas(): Promise<string[]> {
    return this.inner.areas();
  }

  healthy(): boolean {
    return this.failAppends === undefined && this.inner.healthy();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
