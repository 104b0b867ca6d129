/**
 * Client publishes (PUBLISH and wills) into the area log through AreaService (durable before
 * the PUBACK), and retained state into the session store.
 *
 * Content type: 5.0 Content Type `application/json` / `application/msgpack` (validated, else
 * 0x99); otherwise (3.1.1, or none given) a payload that parses as JSON is stored as JSON, so
 * WebSocket vehicles get it as `data` instead of base64; anything else is binary. MQTT
 * subscribers always get the payload bytes unchanged.
 */
import { unpack } from 'msgpackr';
import { isEngineError, type MqttReason } from '../../errors.ts';
import type { ContentType } from '../../log/types.ts';
import type { MqttContext } from './context.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The log content type of an MQTT payload, or undefined when it contradicts its declared format. */
export function contentTypeOf(payload: Buffer, declared: string | undefined, utf8Declared: boolean): ContentType | undefined {
  const base = declared?.split(';')[0].trim().toLowerCase();
  if (base === 'application/json') return isJson(payload) ? 'json' : undefined;
  if (base === 'application/msgpack' || base === 'application/x-msgpack' || base === 'application/vnd.msgpack') {
    try {
      unpack(payload);
      return 'msgpack';
    } catch {
      return undefined;
    }
  }
  if (utf8Declared && !isUtf8(payload)) return undefined;
  if (base !== undefined) return 'binary';
  return isJson(payload) ? 'json' : 'binary';
}

function isUtf8(payload: Buffer): boolean {
  try {
    utf8.decode(payload);
    return true;
  } catch {
    return false;
  }
}

function isJson(payload: Buffer): boolean {
  if (payload.length === 0) return false;
  try {
    JSON.parse(utf8.decode(payload));
    return true;
  } catch {
    return false;
  }
}

export interface ClientPublish {
  readonly area: string;
  readonly payload: Buffer;
  readonly contentType: ContentType;
  readonly ttlSeconds: number;
  readonly retain: boolean;
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
    const res = await ctx.service.publish(m.area, { payload: m.payload, contentType: m.contentType, ttlSeconds: m.ttlSeconds });
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
      });
    }
    return 'success';
  } catch (err) {
    if (isEngineError(err) && err.code === 'rate_limited') return 'quota_exceeded';
    ctx.logger.error({ err, area: m.area }, 'mqtt publish failed');
    return 'unspecified_error';
  }
}
