/**
 * Client publishes (PUBLISH and wills) into the area log through AreaService (durable before
 * the PUBACK), and retained state into the session store.
 *
 * Content type: 5.0 Content Type `application/json` / `application/msgpack` (validated, else
 * 0x99); otherwise (3.1.1, or none given) a payload that parses as JSON is stored as JSON, so
 * WebSocket vehicles get it as `data` instead of base64; anything else is binary. MQTT
 * subscribers always get the payload bytes unchanged.
 */
import { isEngineError, type MqttReason } from '../../errors.ts';
import type { IPublishPacket } from 'mqtt-packet';
import type { ContentType, RecordHeaders } from '../../log/types.ts';
import { isJson, isMsgpack, isUtf8 } from '../shared/payload.ts';
import type { MqttConnection } from './connection.ts';
import type { MqttContext } from './context.ts';

/** The log content type of an MQTT payload, or undefined when it contradicts its declared format. */
export function contentTypeOf(payload: Buffer, declared: string | undefined, utf8Declared: boolean): ContentType | undefined {
  const base = declared?.split(';')[0].trim().toLowerCase();
  if (base === 'application/json') return isJson(payload) ? 'json' : undefined;
  if (base === 'application/msgpack' || base === 'application/x-msgpack' || base === 'application/vnd.msgpack') return isMsgpack(payload) ? 'msgpack' : undefined;
  if (utf8Declared && !isUtf8(payload)) return undefined;
  if (base !== undefined) return 'binary';
  return isJson(payload) ? 'json' : 'binary';
}

export interface ClientPublish {
  readonly area: string;
  readonly payload: Buffer;
  readonly contentType: ContentType;
  readonly ttlSeconds: number;
  readonly retain: boolean;
  readonly headers: RecordHeaders;
}

type PublishProperties = NonNullable<IPublishPacket['properties']>;

/**
 * What the log keeps of an MQTT publish for its subscribers: who published (No Local), RETAIN
 * (Retain As Published), QoS (retained delivery), and the 5.0 properties a receiver must get
 * unaltered: User Properties [MQTT-3.3.2-17], Response Topic [MQTT-3.3.2-15], Correlation Data
 * [MQTT-3.3.2-16], Content Type [MQTT-3.3.2-20], Payload Format Indicator [MQTT-3.3.2-4].
 * User Properties come from mqtt-packet as an object (one key, or an array per repeated name):
 * names keep their first-seen order and their values their order.
 */
export function headersOf(conn: MqttConnection, qos: 0 | 1 | 2, retain: boolean, props: PublishProperties | undefined): RecordHeaders {
  const h: { -readonly [K in keyof RecordHeaders]: RecordHeaders[K] } = { origin: conn.clientId, qos };
  if (retain) h.retain = true;
  if (props === undefined) return h;
  if (props.userProperties !== undefined) {
    const list: [string, string][] = [];
    for (const [k, v] of Object.entries(props.userProperties)) {
      if (Array.isArray(v)) for (const x of v) list.push([k, String(x)]);
      else list.push([k, String(v)]);
    }
    if (list.length > 0) h.userProperties = list;
  }
  if (props.responseTopic !== undefined) h.responseTopic = props.responseTopic;
  if (props.correlationData !== undefined) h.correlationData = props.correlationData;
  if (props.contentType !== undefined) h.contentType = props.contentType;
  if (props.payloadFormatIndicator === true) h.utf8 = true;
  return h;
}

/**
 * Appends (durably) and, for retain=1, makes it the area's retained message; an empty retained
 * payload only clears the retained message (nothing is appended: vehicles need no empty event).
 * Resolves to the PUBACK reason.
 */
export async function publishFromClient(ctx: MqttContext, m: ClientPublish): Promise<MqttReason> {
  try {
    if (m.retain && m.payload.length === 0) {
      await ctx.sessions.clearRetained(m.area);
      return 'success';
    }
    const time = ctx.now();
    const res = await ctx.service.publish(m.area, { payload: m.payload, contentType: m.contentType, ttlSeconds: m.ttlSeconds, headers: m.headers });
    if (m.retain) {
      // The accept time the log stamped, so the retained copy carries the same `time` property.
      const page = await ctx.service.history(m.area, res.offset, 1).catch(() => undefined);
      const rec = page?.records[0]?.offset === res.offset ? page.records[0] : undefined;
      await ctx.sessions.setRetained(m.area, {
        offset: res.offset,
        time: rec?.time ?? time,
        expiresAt: rec?.expiresAt ?? (m.ttlSeconds > 0 ? time + m.ttlSeconds * 1000 : 0),
        contentType: m.contentType,
        payload: m.payload,
        headers: m.headers,
      });
    }
    return 'success';
  } catch (err) {
    if (isEngineError(err) && err.code === 'rate_limited') return 'quota_exceeded';
    // The log says once when it stops and starts taking writes (full disk...); each refusal is
    // counted (PUBACK 0x80) and only a debug line: a full disk must not flood the log.
    if (isEngineError(err) && err.code === 'log_unavailable') ctx.logger.debug({ area: m.area, message: err.message }, 'mqtt publish refused: log unavailable');
    else ctx.logger.error({ err, area: m.area }, 'mqtt publish failed');
    return 'unspecified_error';
  }
}
