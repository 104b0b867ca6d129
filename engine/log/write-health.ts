/**
 * Whether the embedded log can take writes right now [issue 13: a full disk, EIO or a read-only
 * remount must leave the engine serving].
 *
 * A commit can fail at any moment. From then on: appends answer `log_unavailable` at once (a
 * write queued behind a full disk would fail the same way, and each failed commit has lmdb print
 * a stack), `/readyz` says 503 (the log is not healthy), reads and tails go on untouched, and a
 * probe write every `probeMs` (at least as large as the write that failed) finds out when writes
 * work again; the first probe that
 * commits makes the log writable, with no operator step. One line is logged per transition, not
 * per refused publish (those are counted by the transports' error metrics).
 */
export interface WriteHealthEvents {
  /** The log stopped (false) or started again (true) taking writes. */
  readonly onChange: (writable: boolean, reason: string) => void;
}

export class WriteHealth {
  private failure: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private probing = false;
  private closed = false;
  private failedProbes = 0;
  /** What the probe writes: as much as the write that failed, at least `minProbeBytes`. */
  private probeBytes: number;

  constructor(
    /** One durable write of `bytes`; rejects with the reason it failed. */
    private readonly probe: (bytes: number) => Promise<void>,
    private readonly probeMs: number,
    private readonly minProbeBytes: number,
    private readonly events: WriteHealthEvents,
  ) {
    this.probeBytes = minProbeBytes;
  }

  get writable(): boolean {
    return this.failure === undefined;
  }

  /** Why writes fail (undefined while they work). */
  get reason(): string | undefined {
    return this.failure;
  }

  /**
   * A write of `bytes` failed with `reason`: refuse appends and start probing (no-op if already
   * failing). The probe writes at least as much, so it does not call a disk ready that has room
   * for a tiny probe but not for the publish that failed (readiness would flap).
   */
  failed(reason: string, bytes = 0): void {
    if (this.closed || this.failure !== undefined) return;
    this.failure = reason;
    this.probeBytes = Math.max(this.minProbeBytes, bytes);
    this.failedProbes = 0;
    this.events.onChange(false, reason);
    this.timer = setInterval(() => this.runProbe(), this.probeMs);
    this.timer.unref();
  }

  /** Probe now (used at open, so a store that is already full starts not ready). */
  async check(): Promise<void> {
    try {
      await this.probe(this.minProbeBytes);
    } catch (error) {
      this.failed(error instanceof Error ? error.message : String(error));
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private runProbe(): void {
    if (this.probing || this.closed) return;
    this.probing = true;
    this.probe(this.probeBytes).then(
      () => {
        this.probing = false;
        if (this.closed || this.failure === undefined) return;
        const was = this.failure;
        this.failure = undefined;
        if (this.timer) clearInterval(this.timer);
        this.timer = undefined;
        this.events.onChange(true, `writes work again after ${this.failedProbes} failed probe(s) (was: ${was})`);
      },
      (error: unknown) => {
        this.probing = false;
        this.failedProbes++;
        // Keep the newest reason (a disk that was full may now be read-only).
        if (this.failure !== undefined) this.failure = error instanceof Error ? error.message : String(error);
      },
    );
  }
}
