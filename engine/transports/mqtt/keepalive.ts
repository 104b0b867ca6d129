/**
 * [MQTT-3.1.2-22]: nothing received for 1.5 x Keep Alive closes the connection, to the millisecond
 * rather than to the next sweep. One timer per connection, re-armed only when it fires (a packet
 * just updates lastPacketAt): at most one timer callback per 1.5 x Keep Alive. The callback is one
 * module function given the connection, not a closure per connection.
 */
import type { MqttConnection } from './connection.ts';

export function armKeepalive(conn: MqttConnection, inMs: number): void {
  conn.keepaliveTimer = setTimeout(keepaliveFired, Math.max(1, Math.ceil(inMs)), conn);
  conn.keepaliveTimer.unref();
}

function keepaliveFired(conn: MqttConnection): void {
  conn.keepaliveTimer = undefined;
  if (conn.closed) return;
  const limit = conn.keepaliveMs * 1.5;
  const idle = conn.ctx.now() - conn.lastPacketAt;
  if (idle >= limit) return conn.disconnect('keep_alive_timeout', `nothing received for ${idle} ms (keepalive ${conn.keepaliveMs / 1000} s)`);
  armKeepalive(conn, limit - idle);
}
