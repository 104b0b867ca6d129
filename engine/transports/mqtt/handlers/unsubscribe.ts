/** UNSUBSCRIBE: detach the areas' virtual cursors now; 5.0 reason per filter (0x00, 0x11, 0x8F). */
import type { IUnsubscribePacket } from 'mqtt-packet';
import { MQTT_REASON } from '../../../errors.ts';
import type { MqttConnection } from '../connection.ts';
import type { MqttContext } from '../context.ts';
import { parseFilter } from '../topics.ts';

export function handleUnsubscribe(ctx: MqttContext, conn: MqttConnection, p: IUnsubscribePacket): void {
  if (p.unsubscriptions.length === 0) return conn.fail('protocol_error', 'UNSUBSCRIBE without a topic filter [MQTT-3.10.3-2]');
  const codes: number[] = [];
  let changed = false;
  for (const filter of p.unsubscriptions) {
    const f = parseFilter(filter);
    // Filters are compared character by character [MQTT-3.10.4-1]: a wildcard removes what it expanded to.
    if (f.kind === 'wildcard' && conn.wildcards?.delete(filter) === true) {
      for (const s of [...conn.subs.values()]) if (s.via === filter) conn.detach(s);
      changed = true;
      codes.push(MQTT_REASON.success.v5);
      continue;
    }
    const member = f.kind === 'shared' ? conn.shares?.get(filter) : undefined;
    if (member !== undefined) {
      conn.detach(member); // what it owed goes to the rest of the group
      changed = true;
      codes.push(MQTT_REASON.success.v5);
      continue;
    }
    const sub = f.area === undefined || f.kind === 'shared' ? undefined : conn.subs.get(f.area);
    if (sub !== undefined && sub.via === undefined) {
      conn.detach(sub);
      changed = true;
      codes.push(MQTT_REASON.success.v5);
    } else {
      codes.push(f.kind === 'invalid' ? MQTT_REASON.topic_filter_invalid.v5 : MQTT_REASON.no_subscription_existed.v5);
    }
  }
  conn.send(conn.version === 5 ? { cmd: 'unsuback', messageId: p.messageId, granted: codes } : { cmd: 'unsuback', messageId: p.messageId, granted: [] });
  if (changed) conn.saveSession();
  // Its in-flight entries are gone: others may use the window now.
  conn.resumePaused();
}
