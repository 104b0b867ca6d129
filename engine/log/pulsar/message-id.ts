/**
 * Pulsar message ids as the engine orders them. pulsar-client's `MessageId` exposes no fields,
 * only `serialize()`, which returns the `MessageIdData` protobuf of Pulsar's wire protocol
 * (PulsarApi.proto):
 *
 *   message MessageIdData {
 *     required uint64 ledgerId = 1;  required uint64 entryId = 2;
 *     optional int32 partition = 3 [default = -1];  optional int32 batch_index = 4 [default = -1];
 *     repeated int64 ack_set = 5;  optional int32 batch_size = 6;
 *     optional MessageIdData first_chunk_message_id = 7; ... }
 *
 * Topic order is (ledgerId, entryId, batchIndex): ledger ids grow across rollovers (BookKeeper
 * hands them out increasing), entry ids grow within a ledger, and the messages of one batched
 * entry are ordered by their batch index. A chunked message is positioned at its last chunk
 * (fields 1/2), which is where readers receive it.
 */

export interface IdParts {
  /** Signed view of the uint64: MessageId.earliest() is -1. */
  readonly ledger: bigint;
  readonly entry: bigint;
  /** -1 on a non-partitioned topic. */
  readonly partition: number;
  /** -1 for a message that is a whole entry (not part of a batch). */
  readonly batchIndex: number;
  /** Messages in the batched entry (0 when not batched or unknown). */
  readonly batchSize: number;
}

export function decodeMessageId(bytes: Uint8Array): IdParts {
  let ledger: bigint | undefined;
  let entry: bigint | undefined;
  let partition = -1;
  let batchIndex = -1;
  let batchSize = 0;
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= bytes.length) throw new Error('truncated MessageIdData varint');
      const b = bytes[pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw new Error('MessageIdData varint too long');
    }
  };
  while (pos < bytes.length) {
    const tag = Number(varint());
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === 0) {
      const v = varint();
      if (field === 1) ledger = BigInt.asIntN(64, v);
      else if (field === 2) entry = BigInt.asIntN(64, v);
      else if (field === 3) partition = Number(BigInt.asIntN(32, v));
      else if (field === 4) batchIndex = Number(BigInt.asIntN(32, v));
      else if (field === 6) batchSize = Number(BigInt.asIntN(32, v));
    } else if (wire === 2) {
      const len = Number(varint());
      pos += len;
    } else if (wire === 1) {
      pos += 8;
    } else if (wire === 5) {
      pos += 4;
    } else {
      throw new Error(`unsupported protobuf wire type ${wire} in MessageIdData`);
    }
  }
  if (pos !== bytes.length) throw new Error('truncated MessageIdData field');
  if (ledger === undefined || entry === undefined) throw new Error('MessageIdData without ledgerId/entryId');
  return { ledger, entry, partition, batchIndex, batchSize };
}

/** The inverse of decodeMessageId (used by the test double and round-trip tests). */
export function encodeMessageId(p: IdParts): Buffer {
  const out: number[] = [];
  const varint = (v: bigint): void => {
    let x = BigInt.asUintN(64, v);
    while (x >= 0x80n) {
      out.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    out.push(Number(x));
  };
  const field = (n: number, v: bigint): void => {
    varint(BigInt(n << 3));
    varint(v);
  };
  field(1, p.ledger);
  field(2, p.entry);
  if (p.partition !== -1) field(3, BigInt(p.partition));
  if (p.batchIndex !== -1) field(4, BigInt(p.batchIndex));
  if (p.batchSize > 0) field(6, BigInt(p.batchSize));
  return Buffer.from(out);
}

/** `ledger:entry:batchIndex`: the id's position, as stamped in anchor properties. */
export function idKey(p: Pick<IdParts, 'ledger' | 'entry' | 'batchIndex'>): string {
  return `${p.ledger}:${p.entry}:${p.batchIndex}`;
}

const KEY = /^(-?\d{1,20}):(-?\d{1,20}):(-?\d{1,10})$/;

export function parseIdKey(key: string): Pick<IdParts, 'ledger' | 'entry' | 'batchIndex'> | undefined {
  const m = KEY.exec(key);
  if (!m) return undefined;
  return { ledger: BigInt(m[1]!), entry: BigInt(m[2]!), batchIndex: Number(m[3]!) };
}

/** Topic order: negative when a is before b. */
export function compareIds(a: Pick<IdParts, 'ledger' | 'entry' | 'batchIndex'>, b: Pick<IdParts, 'ledger' | 'entry' | 'batchIndex'>): number {
  if (a.ledger !== b.ledger) return a.ledger < b.ledger ? -1 : 1;
  if (a.entry !== b.entry) return a.entry < b.entry ? -1 : 1;
  return a.batchIndex - b.batchIndex;
}

/**
 * Does a reader started exclusively at `start` receive `id`? Exactly the messages after it in topic
 * order: an id with a batch index excludes the batch messages up to it; an id without one excludes
 * the message at that entry, but not the messages of a batch stored there (batch index 0.. sort
 * after -1). Observed on Pulsar 4.0.8 (engine/log/pulsar/testing/real-pulsar.broker.test.ts); the
 * double assumed the whole entry was excluded until checked. The engine only ever starts readers at
 * ids Pulsar delivered, where both readings agree, and filters with this anyway.
 */
export function isAfterStart(id: Pick<IdParts, 'ledger' | 'entry' | 'batchIndex'>, start: Pick<IdParts, 'ledger' | 'entry' | 'batchIndex'>): boolean {
  return compareIds(id, start) > 0;
}
