import type { WsConnection } from '../connection.ts';

/** ping: application-level liveness for clients that cannot see WebSocket ping frames (browsers). */
export function handlePing(conn: WsConnection): void {
  conn.sendControl({ type: 'pong' });
}
