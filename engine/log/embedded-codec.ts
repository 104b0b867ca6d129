/**
 * On-disk layout of the embedded (LMDB) log: keys and the compact record encoding.
 *
 * Named databases in one LMDB env:
 *   messages  [area, offset]        -> record bytes (see encodeRecord)
 *   meta      'epoch'               -> string (random, created once with the store)
 *             ['h', area]           -> [head, first]
 *   idem      [area, key]           -> [offset, time]
 *   idemTime  [time, area, key]     -> null   (index for expiring idempotency keys in time order)
 */
import { createHash } from 'node:crypto';
import { emptyHeaders, packHeaders, unpackHeaders } from './headers.ts';
import type { ContentType, LogRecord, RecordHeaders } from './types.ts';

/** Bumped if the record layout ever changes; stored as the first byte of every record. */
export const RECORD_FORMAT = 1;
/** Format 1 plus MQTT 5 headers: after the 18 header bytes, u32 LE length, msgpack headers, payload. */
export const RECORD_FORMAT_HEADERS = 2;
/** format(1) + time(f64) + expiresAt(f64) + contentType(1) */
export const HEADER_BYTES = 18;

/** Upper bound for offsets in range keys (exclusive ends). */
export const MAX_OFFSET = Number.MAX_SAFE_INTEGER;

const CONTENT_TYPES: readonly ContentType[] = ['json', 'msgpack', 'binary'];
const CONTENT_CODES: Record<ContentType, number> = { json: 0, msgpack: 1, binary: 2 };

/** Records without headers keep format 1, byte for byte what earlier versions wrote. */
export function encodeRecord(time: number, expiresAt: number, contentType: ContentType, payload: Uint8Array, headers?: RecordHeaders): Buffer {
  const code = CONTENT_CODES[contentType];
  if (code === undefined) throw new TypeError(`unknown content type ${String(contentType)}`);
  const extra = emptyHeaders(headers) ? undefined : packHeaders(headers!);
  const start = extra === undefined ? HEADER_BYTES : HEADER_BYTES + 4 + extra.length;
  const buf = Buffer.allocUnsafe(start + payload.byteLength);
  buf[0] = extra === undefined ? RECORD_FORMAT : RECORD_FORMAT_HEADERS;
  buf.writeDoubleLE(time, 1);
  buf.writeDoubleLE(expiresAt, 9);
  buf[17] = code;
  if (extra !== undefined) {
    buf.writeUInt32LE(extra.length, HEADER_BYTES);
    buf.set(extra, HEADER_BYTES + 4);
  }
  buf.set(payload, start);
  return buf;
}

/** `bytes` must be a buffer the caller owns (lmdb's getRange values are fresh copies). */
export function decodeRecord(offset: number, bytes: Buffer): LogRecord {
  const format = bytes[0];
  if (format !== RECORD_FORMAT && format !== RECORD_FORMAT_HEADERS) throw new Error(`unknown record format ${format} at offset ${offset}`);
  const base = { offset, time: bytes.readDoubleLE(1), expiresAt: bytes.readDoubleLE(9), contentType: CONTENT_TYPES[bytes[17]] ?? 'binary' };
  if (format === RECORD_FORMAT) return { ...base, payload: bytes.subarray(HEADER_BYTES) };
  const len = bytes.readUInt32LE(HEADER_BYTES);
  const start = HEADER_BYTES + 4 + len;
  const headers = unpackHeaders(bytes.subarray(HEADER_BYTES + 4, start));
  return { ...base, payload: bytes.subarray(start), ...(headers !== undefined && { headers }) };
}

/** Reads only the `time` field (retention by age). */
export function recordTime(bytes: Buffer): number {
  return bytes.readDoubleLE(1);
}

export const EPOCH_KEY = 'epoch';
/** Last open of the store by a flush-mode engine (written to force one real sync at open). */
export const OPENED_KEY = 'opened';
/** Bytes the write-health probe commits and deletes again (../write-health.ts). */
export const PROBE_KEY = 'probe';

export function headKey(area: string): [string, string] {
  return ['h', area];
}

/** Key range holding every area's head entry. */
export const HEAD_RANGE = { start: ['h'], end: ['i'] };

export function messageKey(area: string, offset: number): [string, number] {
  return [area, offset];
}

/** LMDB keys are limited to ~2 KB; long idempotency keys are replaced by their hash. */
const MAX_RAW_IDEM_KEY = 200;

export function idemKey(area: string, key: string): [string, string] {
  if (Buffer.byteLength(key) <= MAX_RAW_IDEM_KEY) return [area, key];
  return [area, '#' + createHash('sha256').update(key).digest('base64url')];
}

/** [head, first] as stored in meta; absent means the area never had a record. */
export type HeadEntry = [head: number, first: number];
