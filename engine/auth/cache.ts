/**
 * Bounded cache of verified tokens, keyed by the exact token string, so a reconnect storm of
 * vehicles presenting the same tokens again does not re-run signature verification.
 *
 * It stores the verification PROMISE, so concurrent connects with one token share one
 * verification (the first completes, the rest await it). Failed verifications are dropped
 * (never cached). Entries leave on expiry (checked on every hit, and the oldest entries are
 * checked on every insert) and by size (least recently used first).
 */
import type { Principal } from './types.ts';

interface Entry {
  readonly promise: Promise<Principal>;
  /** Set once the verification succeeded: lets a connect take the synchronous path. */
  principal: Principal | undefined;
  /** ms since epoch at which the principal expires; Infinity while pending or for no `exp`. */
  expiresAt: number;
}

export class TokenCache {
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;

  constructor(maxEntries: number) {
    this.maxEntries = Math.max(0, Math.floor(maxEntries));
  }

  get size(): number {
    return this.entries.size;
  }

  /** The cached (possibly still pending) verification, or undefined if absent or expired. */
  get(token: string, now: number): Promise<Principal> | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    this.entries.delete(token);
    if (now >= entry.expiresAt) return undefined;
    this.entries.set(token, entry); // most recently used goes last
    return entry.promise;
  }

  /** The principal of a completed, unexpired verification (no promise, no await), else undefined. */
  getVerified(token: string, now: number): Principal | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined || entry.principal === undefined) return undefined;
    this.entries.delete(token);
    if (now >= entry.expiresAt) return undefined;
    this.entries.set(token, entry); // most recently used goes last
    return entry.principal;
  }

  /** Remembers a verification; it is forgotten again if it fails. */
  set(token: string, promise: Promise<Principal>, now: number): void {
    if (this.maxEntries === 0) return;
    this.evict(now);
    const entry: Entry = { promise, principal: undefined, expiresAt: Infinity };
    this.entries.set(token, entry);
    promise.then(
      (p) => {
        entry.expiresAt = p.expiresAt > 0 ? p.expiresAt : Infinity;
        entry.principal = p;
      },
      () => {
        if (this.entries.get(token) === entry) this.entries.delete(token);
      },
    );
  }

  private evict(now: number): void {
    // Opportunistic expiry sweep of the two least recently used entries (O(1) per insert).
    let checked = 0;
    for (const [token, entry] of this.entries) {
      if (checked++ >= 2) break;
      if (now >= entry.expiresAt) this.entries.delete(token);
    }
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
  }
}
