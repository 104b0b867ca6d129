/** In-memory SessionStore for unit tests (same semantics as the LMDB one, nothing durable). */
import type { RetainedMessage, SessionStore, StoredSession } from './types.ts';

export class MemorySessionStore implements SessionStore {
  readonly sessions = new Map<string, StoredSession>();
  readonly retained = new Map<string, RetainedMessage>();

  async open(): Promise<void> {}

  getSession(clientId: string): StoredSession | undefined {
    return this.sessions.get(clientId);
  }

  async putSession(clientId: string, session: StoredSession): Promise<void> {
    this.sessions.set(clientId, session);
  }

  async deleteSession(clientId: string): Promise<void> {
    this.sessions.delete(clientId);
  }

  async expireSessions(now: number, live: (clientId: string) => boolean): Promise<number> {
    let n = 0;
    for (const [id, s] of this.sessions) {
      if (s.expiresAt <= now && !live(id)) {
        this.sessions.delete(id);
        n++;
      }
    }
    return n;
  }

  getRetained(area: string): RetainedMessage | undefined {
    return this.retained.get(area);
  }

  async setRetained(area: string, message: RetainedMessage): Promise<void> {
    const prev = this.retained.get(area);
    if (prev === undefined || prev.offset <= message.offset) this.retained.set(area, message);
  }

  async clearRetained(area: string): Promise<void> {
    this.retained.delete(area);
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}
