/**
 * RecordHeaders on the wire of both logs (embedded record bytes, Pulsar `abe-headers`): one
 * msgpack map with short keys, checked field by field on the way back, so a record written by
 * another engine version (or a foreign Pulsar producer) can never hand a handler a wrong shape.
 */
import { pack, unpack } from 'msgpackr';
import type { RecordHeaders } from './types.ts';

interface Wire {
  o?: string;
  r?: boolean;
  q?: number;
  u?: [string, string][];
  t?: string;
  c?: Uint8Array;
  y?: string;
  f?: boolean;
}

/** true when there is nothing to store (most records: REST and WebSocket publishes). */
export function emptyHeaders(h: RecordHeaders | undefined): boolean {
  if (h === undefined) return true;
  for (const k in h) if ((h as Record<string, unknown>)[k] !== undefined) return false;
  return true;
}

export function packHeaders(h: RecordHeaders): Buffer {
  const w: Wire = {};
  if (h.origin !== undefined) w.o = h.origin;
  if (h.retain === true) w.r = true;
  if (h.qos !== undefined) w.q = h.qos;
  if (h.userProperties !== undefined && h.userProperties.length > 0) w.u = h.userProperties.map(([k, v]) => [k, v]);
  if (h.responseTopic !== undefined) w.t = h.responseTopic;
  if (h.correlationData !== undefined) w.c = h.correlationData;
  if (h.contentType !== undefined) w.y = h.contentType;
  if (h.utf8 === true) w.f = true;
  return pack(w);
}

/** The headers, or undefined when the bytes are not a headers map (the record goes out without them). */
export function unpackHeaders(bytes: Uint8Array): RecordHeaders | undefined {
  let w: unknown;
  try {
    w = unpack(bytes);
  } catch {
    return undefined;
  }
  if (typeof w !== 'object' || w === null || Array.isArray(w)) return undefined;
  const x = w as Record<string, unknown>;
  const out: { -readonly [K in keyof RecordHeaders]: RecordHeaders[K] } = {};
  if (typeof x.o === 'string') out.origin = x.o;
  if (x.r === true) out.retain = true;
  if (x.q === 0 || x.q === 1 || x.q === 2) out.qos = x.q;
  if (Array.isArray(x.u) && x.u.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && typeof p[1] === 'string')) {
    out.userProperties = x.u as [string, string][];
  }
  if (typeof x.t === 'string') out.responseTopic = x.t;
  if (x.c instanceof Uint8Array) out.correlationData = x.c;
  if (typeof x.y === 'string') out.contentType = x.y;
  if (x.f === true) out.utf8 = true;
  return out;
}
