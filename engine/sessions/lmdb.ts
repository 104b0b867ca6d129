/**
 * The durable SessionStore: a small LMDB env of its own (`${dataDir}/sessions` by default), so it
 * works with either log (embedded or Pulsar) and several engine processes can share it.
 *
 * Writes are async LMDB puts (lmdb-js batches every put of one event turn into one commit), and
 * stay in a pending map until committed so a get in the same tick sees them (session takeover).
 * Session writes resolve on commit (survives kill -9); retained messages also wait for the fsync,
 * like a publish with --durability flush.
 *
 * Session writes are gathered for WRITE_BATCH_MS and issued in one event turn (one commit, one
 * fsync), the last write of a client id winning: at 100K persistent sessions over 6 processes, a
 * commit per event turn per process starved the message log's own fsyncs on the same disk
 * (loadtest/results/issue14: accept -> durable went to 24 s). They are checkpoints off the send
 * path; a takeover still sees a put at once (the pending map). lmdb-js's own `commitDelay` was
 * tried first and held up the LOG's commits too (persist P99 4 ms -> 720 ms at 19K).
 */
import { mkdirSync } from 'node:fs';
import { open, type Database, type RootDatabase } from 'lmdb';
import type { RetainedMessage, SessionStore, StoredSession } from './types.ts';
import { absorbLmdbCommitRejections } from '../log/lmdb-failures.ts';

/** Session writes wait this long to share one commit. */
const WRITE_BATCH_MS = 100;
/** Sessions deleted per expiry transaction. */
const EXPIRE_BATCH = 1000;

export class LmdbSessionStore implements SessionStore {
  private env!: RootDatabase;
  private sessions!: Database<StoredSession, string>;
  private retained!: Database<RetainedMessage, string>;
  /** Written but not yet committed; `null` = deleted. */
  private readonly pendingSessions = new Map<string, StoredSession | null>();
  private readonly pendingRetained = new Map<string, RetainedMessage | null>();
  private opened = false;
  private closed = false;
  /** Session writes waiting for the next batch: the latest value per client id, and who waits for it. */
  private readonly queued = new Map<string, { value: StoredSession | null; done: (() => void)[]; failed: ((err: unknown) => void)[] }>();
  private batchTimer: NodeJS.Timeout | undefined;

  constructor(private readonly dir: string) {}

  /** The env is opened on first use, so an engine that never sees an MQTT client creates nothing. */
  async open(): Promise<void> {}

  private ensure(): void {
    if (this.opened) return;
    if (this.closed) throw new Error('session store is closed');
    mkdirSync(this.dir, { recursive: true });
    // A full disk fails session writes too; their callers handle it, lmdb's orphans must not end the process.
    absorbLmdbCommitRejections();
    this.env = open({ path: this.dir, maxDbs: 4 });
    this.sessions = this.env.openDB({ name: 'sessions' });
    this.retained = this.env.openDB({ name: 'retained' });
    this.opened = true;
  }

  getSession(clientId: string): StoredSession | undefined {
    this.ensure();
    const p = this.pendingSessions.get(clientId);
    if (p !== undefined) return p ?? undefined;
    return this.sessions.get(clientId);
  }

  putSession(clientId: string, session: StoredSession): Promise<void> {
    this.ensure();
    return this.queue(clientId, session);
  }

  deleteSession(clientId: string): Promise<void> {
    this.ensure();
    return this.queue(clientId, null);
  }

  /** Visible to getSession now; committed with the next batch (resolves then). */
  private queue(clientId: string, value: StoredSession | null): Promise<void> {
    this.pendingSessions.set(clientId, value);
    return new Promise<void>((resolve, reject) => {
      const q = this.queued.get(clientId);
      if (q !== undefined) {
        q.value = value;
        q.done.push(resolve);
        q.failed.push(reject);
      } else {
        this.queued.set(clientId, { value, done: [resolve], failed: [reject] });
      }
      if (this.batchTimer === undefined) {
        this.batchTimer = setTimeout(() => this.writeBatch(), WRITE_BATCH_MS);
        this.batchTimer.unref();
      }
    });
  }

  /** Every queued session write, in this one event turn: lmdb-js makes it one commit. */
  private writeBatch(): void {
    if (this.batchTimer !== undefined) clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    if (this.queued.size === 0 || !this.opened) return;
    for (const [clientId, q] of this.queued) {
      const value = q.value;
      const op = value === null ? this.sessions.remove(clientId) : this.sessions.put(clientId, value);
      op.then(
        () => {
          if (this.pendingSessions.get(clientId) === value) this.pendingSessions.delete(clientId);
          for (const f of q.done) f();
        },
        (err: unknown) => {
          if (this.pendingSessions.get(clientId) === value) this.pendingSessions.delete(clientId);
          for (const f of q.failed) f(err);
        },
      );
    }
    this.queued.clear();
  }

  async expireSessions(now: number, live: (clientId: string) => boolean): Promise<number> {
    if (!this.opened) return 0;
    const doomed: string[] = [];
    for (const { key, value } of this.sessions.getRange({})) {
      if (value.expiresAt <= now && !live(key) && !this.pendingSessions.has(key)) doomed.push(key);
      if (doomed.length >= EXPIRE_BATCH) break;
    }
    if (doomed.length === 0) return 0;
    await this.sessions.transaction(() => {
      for (const id of doomed) {
        // Re-check inside the transaction: a reconnect may have refreshed it meanwhile.
        const s = this.sessions.get(id);
        if (s !== undefined && s.expiresAt <= now && !live(id) && !this.pendingSessions.has(id)) this.sessions.removeSync(id);
      }
    });
    return doomed.length;
  }

  getRetained(area: string): RetainedMessage | undefined {
    this.ensure();
    const p = this.pendingRetained.get(area);
    if (p !== undefined) return p ?? undefined;
    return this.retained.get(area);
  }

  async setRetained(area: string, message: RetainedMessage): Promise<void> {
    this.ensure();
    const prev = this.getRetained(area);
    if (prev !== undefined && prev.offset > message.offset) return;
    const stored = { ...message, payload: Buffer.from(message.payload) };
    await this.write(this.pendingRetained, area, stored, () => this.retained.put(area, stored));
    await this.env.flushed;
  }

  async clearRetained(area: string): Promise<void> {
    this.ensure();
    await this.write(this.pendingRetained, area, null, () => this.retained.remove(area));
    await this.env.flushed;
  }

  async flush(): Promise<void> {
    if (!this.opened) return;
    this.writeBatch();
    await this.env.committed;
    await this.env.flushed;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (!this.opened) return;
    this.writeBatch();
    this.opened = false;
    await this.env.committed;
    await this.env.close();
  }

  private async write<V>(pending: Map<string, V | null>, key: string, value: V | null, op: () => Promise<boolean>): Promise<void> {
    pending.set(key, value);
    try {
      await op();
    } finally {
      if (pending.get(key) === value) pending.delete(key);
    }
  }
}
