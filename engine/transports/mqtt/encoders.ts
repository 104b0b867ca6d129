/**
 * PUBLISH packets for the area ring, encoded ONCE per message per format [DESIGN "Encode once"],
 * each shared by every subscriber of that format. A format is everything that makes the bytes
 * differ between subscribers, decided at SUBSCRIBE time, never per message:
 *   3.1.1: QoS 0 / 1 / 2                      (3 formats)
 *   5.0:   QoS x Retain As Published x lean   (12 formats)
 * All are lazy: nothing is encoded for a format until a subscriber of it attaches.
 *
 * Shared bytes need a shared packet identifier: it is derived from the offset,
 * (offset % 65535) + 1, so every QoS 1/2 subscriber sees the same id for the same message; a
 * connection that already has that id in flight (another area's message) waits (see inflight.ts).
 *
 * MQTT 5: the publisher's properties as sent [MQTT-3.3.2-15..20] (publish-frame.ts), plus, unless
 * lean, user properties `offset` and `time` (accept time, ms) and a Content Type the log knows.
 * Live forwards carry RETAIN=0 [MQTT-3.3.1-12], or the publisher's RETAIN for Retain As
 * Published subscriptions [MQTT-3.3.1-13]; 3.1.1 always 0 [MQTT-3.3.1-9].
 */
import type { FormatTable, MessageEncoder } from '../../areas/encoding.ts';
import type { LogRecord } from '../../log/types.ts';
import { encodePublish, type MqttVersion, type Qos } from './publish-frame.ts';

export { CONTENT_TYPES, encodePublish, packetIdOf, withDup, type MqttVersion, type PublishSource, type Qos } from './publish-frame.ts';

/** What decides a subscriber's PUBLISH bytes. `rap` and `lean` are ignored for 3.1.1. */
export interface MqttFormatKey {
  readonly version: MqttVersion;
  readonly qos: Qos;
  /** Retain As Published [MQTT-3.3.1-13]. */
  readonly rap: boolean;
  /** No engine-added properties (publish-frame.ts). */
  readonly lean: boolean;
}

export function mqttEncoder(key: MqttFormatKey): MessageEncoder {
  const v5 = key.version === 5;
  const name = `mqtt-v${v5 ? '5' : '3.1.1'}-qos${key.qos}${v5 && key.rap ? '-rap' : ''}${v5 && key.lean ? '-lean' : ''}`;
  return {
    name,
    encode: (area: string, r: LogRecord) =>
      encodePublish(area, r, { version: key.version, qos: key.qos, retain: v5 && key.rap && r.headers?.retain === true, lean: v5 && key.lean }),
  };
}

/** FormatTable indices of the MQTT formats. */
export interface MqttFormats {
  /** The format of a subscriber; activates it (encoded from now on). */
  format(key: MqttFormatKey): number;
}

function indexOf(key: MqttFormatKey): number {
  if (key.version === 4) return key.qos;
  return 3 + key.qos * 4 + (key.rap ? 2 : 0) + (key.lean ? 1 : 0);
}

/** Registers every format as lazy: an engine without MQTT subscribers pays nothing for them. */
export function registerMqttFormats(table: FormatTable): MqttFormats {
  const ids: number[] = [];
  for (const qos of [0, 1, 2] as const) ids[indexOf({ version: 4, qos, rap: false, lean: false })] = table.add(mqttEncoder({ version: 4, qos, rap: false, lean: false }), { lazy: true });
  for (const qos of [0, 1, 2] as const) {
    for (const rap of [false, true]) {
      for (const lean of [false, true]) ids[indexOf({ version: 5, qos, rap, lean })] = table.add(mqttEncoder({ version: 5, qos, rap, lean }), { lazy: true });
    }
  }
  return {
    format(key: MqttFormatKey): number {
      const f = ids[indexOf(key)];
      table.activate(f);
      return f;
    },
  };
}
