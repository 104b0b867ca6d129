/**
 * What a persistent session stores (engine/sessions/) and when it is written: per area the
 * options and positions, wildcard filters, shared memberships, QoS 2 ids both ways. Read BEFORE the
 * subscriptions detach (the slots hold the positions).
 */
import type { StoredSession } from '../../sessions/types.ts';
import type { MqttConnection } from './connection.ts';
import { checkpoint } from './inflight.ts';
import { errorBurst } from '../shared/error-burst.ts';

/** The session as it stands (read BEFORE detaching: the slots hold the positions). */
export function snapshotOf(conn: MqttConnection, now: number): StoredSession {
  const subscriptions = [];
  for (const s of conn.subs.values()) {
    if (s.slot >= 0 && !s.detached) {
      const pos = s.cursor!.positionOf(s.slot);
      const cp = checkpoint(s.qos, pos.acked, pos.sent, s.dupUpTo);
      subscriptions.push({ area: s.area, qos: s.qos, nl: s.options.nl, rap: s.options.rap, ...(s.options.deflate && { deflate: true }), ...(s.via !== undefined && { via: s.via }), epoch: s.epoch, acked: cp.acked, sent: cp.sent });
    } else if (s.stored !== undefined) {
      subscriptions.push(s.stored);
    }
  }
  for (const [filter, m] of conn.shares ?? []) {
    if (m.group === undefined || m.detached) continue;
    const pos = m.group.position();
    subscriptions.push({ area: m.area, qos: m.qos, rap: m.options.rap, ...(m.options.deflate && { deflate: true }), share: filter, epoch: m.group.epoch, acked: pos.acked, sent: pos.acked });
  }
  const qos2Received = conn.qos2Received === undefined ? [] : [...conn.qos2Received.keys()];
  const qos2Releasing = conn.inflight.releasing;
  return {
    version: conn.version,
    expirySeconds: conn.expirySeconds,
    expiresAt: now + conn.expirySeconds * 1000,
    subscriptions,
    ...(qos2Received.length > 0 && { qos2Received }),
    ...(conn.wildcards !== undefined && conn.wildcards.size > 0 && { wildcards: [...conn.wildcards].map(([filter, o]) => ({ filter, ...o })) }),
    ...(qos2Releasing.length > 0 && { qos2Releasing: [...qos2Releasing] }),
  };
}

/** Writes the session (persistent sessions only). */
export function saveSessionOf(conn: MqttConnection): void {
  if (conn.expirySeconds === 0 || conn.clientId === '') return;
  conn.dirty = false;
  conn.savedAt = conn.ctx.now();
  conn.ctx.sessions.putSession(conn.clientId, snapshotOf(conn, conn.ctx.now())).catch((err: unknown) => {
    conn.dirty = true; // written again at the next checkpoint
    sessionWriteFailed(conn.ctx.logger, { err, clientId: conn.clientId });
  });
}

/**
 * Session writes fail together (a full disk fails every one of 100K sessions at each checkpoint):
 * one error line per second with how many failed since the last one, not one per session.
 */
const sessionWriteFailed = errorBurst('session write failed');
