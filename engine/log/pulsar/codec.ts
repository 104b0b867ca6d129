/**
 * How log records and the engine's control messages travel as Pulsar messages. The payload is the
 * publisher's bytes, untouched; everything else is a message property (all prefixed `abe-`):
 *
 *   data message (counts one offset)      control message (no offset; `abe-kind` is set)
 *   abe-content-type json|msgpack|binary  abe-kind       fence | checkpoint | genesis | (future kinds)
 *   abe-time          accept time (ms)    abe-fence      random id (fence)
 *   abe-expires-at    ms, absent = never   abe-anchor, abe-anchor-count, abe-epoch (checkpoint, genesis)
 *   abe-idempotency-key                    
 *   abe-headers       MQTT 5 publish properties (base64 msgpack, ../headers.ts)
 *   abe-seq, abe-producer  engine producer sequence and name (the WebSocket API does not say
 *                     who produced a message, so the name travels as a property)
 *   abe-anchor/-count/abe-epoch  "message ledger:entry:batch had count N in epoch E"
 *
 * A message from any other producer is a data message too: content type `abe-content-type` or
 * binary, time `abe-time` or the event/publish timestamp, expiry `abe-expires-at` or never. Any
 * message carrying `abe-kind` is a control message, whatever its kind, so engine versions that add
 * kinds never change offsets. Foreign producers must not set `abe-kind`, `abe-seq` or
 * `abe-producer` (the engine's own bookkeeping: resend detection, read-back of its appends).
 */
import { createHash } from 'node:crypto';
import { unpack } from 'msgpackr';
import type { Message, ProducerMessage } from './client-api.ts';
import { emptyHeaders, packHeaders, unpackHeaders } from '../headers.ts';
import type { AppendRequest, ContentType, RecordHeaders } from '../types.ts';
import { parseIdKey } from './message-id.ts';

export const PROP = {
  kind: 'abe-kind',
  fence: 'abe-fence',
  contentType: 'abe-content-type',
  time: 'abe-time',
  expiresAt: 'abe-expires-at',
  idempotencyKey: 'abe-idempotency-key',
  headers: 'abe-headers',
  seq: 'abe-seq',
  producer: 'abe-producer',
  anchor: 'abe-anchor',
  anchorCount: 'abe-anchor-count',
  epoch: 'abe-epoch',
  dlqReason: 'abe-dlq-reason',
  dlqDetail: 'abe-dlq-detail',
  dlqSourceTopic: 'abe-dlq-source-topic',
  dlqSourceId: 'abe-dlq-source-id',
  dlqOffset: 'abe-dlq-offset',
  dlqArea: 'abe-dlq-area',
} as const;

/** "The message at `ref` (ledger:entry:batch) had count `count` in epoch `epoch`." */
export interface Anchor {
  readonly ref: string;
  readonly count: number;
  readonly epoch: string;
}

export interface ControlMessage {
  readonly kind: 'control';
  readonly control: string;
  readonly fence?: string;
  readonly anchor?: Anchor;
}

export interface DataMessage {
  readonly kind: 'data';
  readonly time: number;
  readonly expiresAt: number;
  readonly contentType: ContentType;
  readonly payload: Uint8Array;
  readonly headers?: RecordHeaders;
  readonly idempotencyKey?: string;
  /** Set on engine-produced messages: the producer's sequence, ordered per producer name. */
  readonly seq?: number;
  readonly producer: string;
  readonly anchor?: Anchor;
  /** Why the engine cannot decode it (the record is kept as a tombstone and dead-lettered). */
  readonly deadLetter?: DeadLetterReason;
}

/** Stable reason codes (metric label values); the detail travels in `abe-dlq-detail`. */
export type DeadLetterCode = 'bad_content_type' | 'bad_time' | 'bad_expiry' | 'invalid_payload' | 'decryption_failed';

export interface DeadLetterReason {
  readonly code: DeadLetterCode;
  readonly detail: string;
}

export type Decoded = ControlMessage | DataMessage;

const CONTENT_TYPES: readonly string[] = ['json', 'msgpack', 'binary'];
const MAX_KEY_CHARS = 256;

/** Idempotency keys travel as a property; very long ones are hashed. */
export function wireIdempotencyKey(key: string): string {
  return key.length <= MAX_KEY_CHARS ? key : `sha256:${createHash('sha256').update(key).digest('hex')}`;
}

function nonNegativeInt(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,16}$/.test(value)) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

function anchorOf(props: Record<string, string>): Anchor | undefined {
  const ref = props[PROP.anchor];
  const count = nonNegativeInt(props[PROP.anchorCount]);
  const epoch = props[PROP.epoch];
  if (ref === undefined || count === undefined || !epoch || parseIdKey(ref) === undefined) return undefined;
  return { ref, count, epoch };
}

function anchorProps(anchor: Anchor | undefined): Record<string, string> {
  return anchor ? { [PROP.anchor]: anchor.ref, [PROP.anchorCount]: String(anchor.count), [PROP.epoch]: anchor.epoch } : {};
}

export function decodeMessage(msg: Message): Decoded {
  const props = msg.getProperties() ?? {};
  const kind = props[PROP.kind];
  if (kind !== undefined) {
    const anchor = anchorOf(props);
    return { kind: 'control', control: kind, ...(props[PROP.fence] ? { fence: props[PROP.fence] } : {}), ...(anchor ? { anchor } : {}) };
  }
  const payload = msg.getData();
  const producer = props[PROP.producer] ?? msg.getProducerName();
  // A sequence means something only with its producer: an engine message that does not say who
  // wrote it, read through a client that cannot tell (the WebSocket API), is not checked for resends.
  const seq = producer === '' ? undefined : nonNegativeInt(props[PROP.seq]);
  const anchor = anchorOf(props);
  const base = {
    kind: 'data' as const,
    producer,
    ...(seq !== undefined ? { seq } : {}),
    ...(anchor ? { anchor } : {}),
    ...(props[PROP.idempotencyKey] ? { idempotencyKey: props[PROP.idempotencyKey] } : {}),
  };
  const fallbackTime = msg.getEventTimestamp() || msg.getPublishTimestamp();
  const bad = (code: DeadLetterCode, detail: string): DataMessage => ({
    ...base,
    time: fallbackTime,
    expiresAt: 1,
    contentType: 'binary',
    payload: new Uint8Array(0),
    deadLetter: { code, detail },
  });
  if (msg.getEncryptionContext()?.isDecryptionFailed) return bad('decryption_failed', 'the payload could not be decrypted');
  const ct = props[PROP.contentType] ?? 'binary';
  if (!CONTENT_TYPES.includes(ct)) return bad('bad_content_type', `unknown ${PROP.contentType} "${ct.slice(0, 40)}" (json, msgpack or binary)`);
  const rawTime = props[PROP.time];
  const time = rawTime === undefined ? fallbackTime : nonNegativeInt(rawTime);
  if (time === undefined) return bad('bad_time', `${PROP.time} is not a non-negative integer`);
  const rawExpiry = props[PROP.expiresAt];
  const expiresAt = rawExpiry === undefined ? 0 : nonNegativeInt(rawExpiry);
  if (expiresAt === undefined) return bad('bad_expiry', `${PROP.expiresAt} is not a non-negative integer`);
  // Engine producers validated the payload before appending; check what other producers sent.
  if (seq === undefined && ct !== 'binary') {
    try {
      if (ct === 'json') JSON.parse(payload.toString('utf8'));
      else unpack(payload);
    } catch {
      return bad('invalid_payload', `payload is not valid ${ct}`);
    }
  }
  const rawHeaders = props[PROP.headers];
  const headers = rawHeaders === undefined ? undefined : unpackHeaders(Buffer.from(rawHeaders, 'base64'));
  return { ...base, time, expiresAt, contentType: ct as ContentType, payload, ...(headers !== undefined && { headers }) };
}

export function dataMessage(req: AppendRequest, producer: string, seq: number, anchor: Anchor | undefined): ProducerMessage {
  const properties: Record<string, string> = {
    [PROP.contentType]: req.contentType,
    [PROP.time]: String(req.time),
    [PROP.seq]: String(seq),
    [PROP.producer]: producer,
    ...anchorProps(anchor),
  };
  if (req.expiresAt !== 0) properties[PROP.expiresAt] = String(req.expiresAt);
  if (req.idempotencyKey !== undefined) properties[PROP.idempotencyKey] = wireIdempotencyKey(req.idempotencyKey);
  if (!emptyHeaders(req.headers)) properties[PROP.headers] = packHeaders(req.headers!).toString('base64');
  return { data: Buffer.from(req.payload.buffer, req.payload.byteOffset, req.payload.byteLength), properties, sequenceId: seq, eventTimestamp: req.time };
}

export function controlMessage(kind: 'fence' | 'checkpoint' | 'genesis', seq: number, extra: { fence?: string; anchor?: Anchor }): ProducerMessage {
  const properties: Record<string, string> = { [PROP.kind]: kind, [PROP.seq]: String(seq), ...anchorProps(extra.anchor) };
  if (extra.fence) properties[PROP.fence] = extra.fence;
  return { data: Buffer.alloc(0), properties, sequenceId: seq };
}

/** The generation of an epoch: `E` is generation 0, `E.k` generation k (the k-th reset of the area). */
export function epochGeneration(epoch: string): number {
  const m = /\.(\d+)$/.exec(epoch);
  return m ? Number(m[1]) : 0;
}

export function epochWithGeneration(storeEpoch: string, generation: number): string {
  return generation === 0 ? storeEpoch : `${storeEpoch}.${generation}`;
}
