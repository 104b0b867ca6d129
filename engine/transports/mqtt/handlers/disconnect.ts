/**
 * DISCONNECT from the client: a normal close, so no will (unless 5.0 reason 0x04 "with will");
 * 5.0 may change the session expiry here, but not from 0 [MQTT-3.14.2-2].
 */
import type { IDisconnectPacket } from 'mqtt-packet';
import type { MqttConnection } from '../connection.ts';
import type { MqttContext } from '../context.ts';

const DISCONNECT_WITH_WILL = 0x04;

export function handleDisconnect(ctx: MqttContext, conn: MqttConnection, p: IDisconnectPacket): void {
  if (conn.version === 5) {
    const expiry = p.properties?.sessionExpiryInterval;
    if (expiry !== undefined) {
      if (conn.expirySeconds === 0 && expiry > 0) return conn.fail('protocol_error', 'session expiry set at DISCONNECT after 0 at CONNECT [MQTT-3.14.2-2]');
      conn.expirySeconds = Math.min(expiry, ctx.settings.sessionExpiryMaxSeconds);
    }
    conn.graceful = p.reasonCode !== DISCONNECT_WITH_WILL;
  } else {
    conn.graceful = true;
  }
  conn.clientDisconnected();
}
