/** The client's counters (client.stats()): plain numbers, nothing allocated per message. */
import type { ClientStats } from './types.ts';

export function newStats(): ClientStats {
  return {
    connects: 0,
    reconnects: 0,
    connectFailures: 0,
    resumes: 0,
    recovered: 0,
    gaps: 0,
    gapFilled: 0,
    gapLost: 0,
    duplicatesDropped: 0,
    delivered: 0,
    acksSent: 0,
    pings: 0,
    inflated: 0,
    livenessTimeouts: 0,
    tokenRefreshes: 0,
    swaps: 0,
    handlerErrors: 0,
    moves: 0,
  };
}
