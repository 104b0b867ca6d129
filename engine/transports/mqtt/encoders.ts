/**
 * PUBLISH packets for the area ring, encoded ONCE per message per format [DESIGN "Encode once"],
 * each shared by every subscriber of that format. A format is everything that makes the bytes
 * differ between subscribers, decided at SUBSCRIBE time, never per message:
 *   3.1.1: QoS 0 / 1 / 2                      (3 formats)
 *   5.0:   QoS x Retain As Published x lean x deflate   (24 formats)
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
 *
 * deflate (5.0, opted into per SUBSCRIBE with the User Property `accept-encoding: deflate`
 * [issue 16]): the payload compressed with raw DEFLATE, ONCE per message for all 12 such formats
 * (PayloadView.deflated), marked by the User Property `content-encoding: deflate`; the payload
 * goes as published when deflate does not pay (areas/compression.ts).
 */
import type { Compressor } from '../../areas/compression.ts';
import type { FormatTable, MessageEncoder, PayloadView } from '../../areas/encoding.ts';
import type { LogRecord } from '../../log/types.ts';
import { CONTENT_ENCODING, CONTENT_ENCODING_BYTES, encodePublish, type MqttVersion, type PublishSource, type Qos } from './publish-frame.ts';

export { CONTENT_ENCODING, CONTENT_TYPES, encodePublish, packetIdOf, withDup, type MqttVersion, type PublishSource, type Qos } from './publish-frame.ts';

/** What decides a subscriber's PUBLISH bytes. `rap` and `lean` are ignored for 3.1.1. */
export interface MqttFormatKey {
  readonly version: MqttVersion;
  readonly qos: Qos;
  /** Retain As Published [MQTT-3.3.1-13]. */
  readonly rap: boolean;
  /** No engine-added properties (publish-frame.ts). */
  readonly lean: boolean;
  /** Payload compressed when it pays (5.0 only). */
  readonly deflate: boolean;
}

/** Encoder name of the compressed MQTT payload (metrics): one compression for every deflate format. */
export const MQTT_PAYLOAD_ENCODER = 'mqtt-v5-payload';

export function mqttEncoder(key: MqttFormatKey, compressor: Compressor): MessageEncoder {
  const v5 = key.version === 5;
  const deflate = v5 && key.deflate;
  const name = `mqtt-v${v5 ? '5' : '3.1.1'}-qos${key.qos}${v5 && key.rap ? '-rap' : ''}${v5 && key.lean ? '-lean' : ''}${deflate ? '-deflate' : ''}`;
  return {
    name,
    encode: (area: string, r: LogRecord, payload: PayloadView) =>
      encodePublish(area, r, {
        version: key.version,
        qos: key.qos,
        retain: v5 && key.rap && r.headers?.retain === true,
        lean: v5 && key.lean,
        ...(deflate && { compressed: compressedPayload(compressor, area, r, payload) }),
      }),
  };
}

/**
 * The payload to send on a deflate subscription, compressed (undefined: send it as published).
 * A payload the publisher marked as encoded already, with its own content-encoding User
 * Property, goes as it is. Ring frames deflate it once per record for all 12 deflate formats
 * (`view`, PayloadView.deflated); a retained message, built outside the ring, deflates it here.
 */
export function compressedPayload(compressor: Compressor, area: string, r: PublishSource, view?: PayloadView): Uint8Array | undefined {
  const user = r.headers?.userProperties;
  if (user !== undefined) for (const [k] of user) if (k === CONTENT_ENCODING[0]) return undefined;
  return view !== undefined
    ? view.deflated(compressor, MQTT_PAYLOAD_ENCODER, area, CONTENT_ENCODING_BYTES)
    : compressor.deflate(MQTT_PAYLOAD_ENCODER, area, r.payload, undefined, CONTENT_ENCODING_BYTES);
}

/** FormatTable indices of the MQTT formats. */
export interface MqttFormats {
  /**
   * The format of a subscription of a connection (its version, lean) with these options;
   * activates it (encoded from now on). 3.1.1 ignores rap, lean and deflate.
   */
  format(conn: { readonly version: MqttVersion; readonly lean: boolean }, options: { readonly qos: Qos; readonly rap: boolean; readonly deflate: boolean }): number;
}

function indexOf(key: MqttFormatKey): number {
  if (key.version === 4) return key.qos;
  return 3 + key.qos * 8 + (key.rap ? 4 : 0) + (key.lean ? 2 : 0) + (key.deflate ? 1 : 0);
}

/** Registers every format as lazy: an engine without MQTT subscribers pays nothing for them. */
export function registerMqttFormats(table: FormatTable, compressor: Compressor): MqttFormats {
  const ids: number[] = [];
  const add = (key: MqttFormatKey): void => {
    ids[indexOf(key)] = table.add(mqttEncoder(key, compressor), { lazy: true });
  };
  for (const qos of [0, 1, 2] as const) add({ version: 4, qos, rap: false, lean: false, deflate: false });
  for (const qos of [0, 1, 2] as const) {
    for (const rap of [false, true]) {
      for (const lean of [false, true]) for (const deflate of [false, true]) add({ version: 5, qos, rap, lean, deflate });
    }
  }
  return {
    format(conn, options): number {
      const f = ids[indexOf({ version: conn.version, qos: options.qos, rap: options.rap, lean: conn.lean, deflate: options.deflate })];
      table.activate(f);
      return f;
    },
  };
}
