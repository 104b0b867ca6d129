/**
 * When the primary restarts a worker that died, and when it stops trying (a crash loop).
 *
 * Per worker slot: the exits of the last `windowMs` are remembered. The first exit is restarted at
 * once (its vehicles are reconnecting right now), later ones after an exponential backoff
 * (baseDelayMs, x2 each time, at most maxDelayMs). A worker that ran `stableAfterMs` before dying
 * starts a fresh history. `crashLoopExits` exits inside the window are a crash loop: the slot is
 * given up and reported (log at fatal level, abe_cluster_crash_loops_total), never spun forever.
 */

export interface RestartPolicyOptions {
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly crashLoopExits: number;
  readonly windowMs: number;
  readonly stableAfterMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicyOptions = {
  baseDelayMs: 250,
  maxDelayMs: 10_000,
  crashLoopExits: 5,
  windowMs: 60_000,
  stableAfterMs: 30_000,
};

export type RestartDecision =
  | { readonly restart: true; readonly delayMs: number; readonly recentExits: number }
  | { readonly restart: false; readonly recentExits: number; readonly windowMs: number };

export class RestartPolicy {
  private readonly exits = new Map<number, number[]>();

  constructor(private readonly options: RestartPolicyOptions = DEFAULT_RESTART_POLICY) {}

  /** A worker of `slot` exited at `now` after running `uptimeMs`. */
  onExit(slot: number, now: number, uptimeMs: number): RestartDecision {
    const o = this.options;
    let list = this.exits.get(slot) ?? [];
    if (uptimeMs >= o.stableAfterMs) list = [];
    list = list.filter((t) => now - t < o.windowMs);
    list.push(now);
    this.exits.set(slot, list);
    const n = list.length;
    if (n >= o.crashLoopExits) return { restart: false, recentExits: n, windowMs: o.windowMs };
    const delayMs = n <= 1 ? 0 : Math.min(o.maxDelayMs, o.baseDelayMs * 2 ** (n - 2));
    return { restart: true, delayMs, recentExits: n };
  }

  /** Forget a slot's history (it was given up and an operator restarted the engine, or tests). */
  reset(slot: number): void {
    this.exits.delete(slot);
  }
}
