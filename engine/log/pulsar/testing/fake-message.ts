/**
 * TEST DOUBLE (part of the in-memory Pulsar in ./fake-broker.ts): `MessageId` and `Message`
 * as declared by pulsar-client's index.d.ts. Ids serialize to the real MessageIdData protobuf and
 * print like the C++ client: `(ledger,entry,partition,batchIndex)`.
 */
import type { EncryptionContext, Message, MessageId } from 'pulsar-client';
import { decodeMessageId, encodeMessageId, type IdParts } from '../message-id.ts';

export class FakeMessageId implements MessageId {
  constructor(readonly parts: IdParts) {}

  static of(ledger: number | bigint, entry: number | bigint, batchIndex = -1, batchSize = 0): FakeMessageId {
    return new FakeMessageId({ ledger: BigInt(ledger), entry: BigInt(entry), partition: -1, batchIndex, batchSize });
  }

  /** C++: MessageId(-1, -1, -1, -1). */
  static earliest(): FakeMessageId {
    return FakeMessageId.of(-1, -1);
  }

  /** C++: MessageId(INT64_MAX, INT64_MAX, -1, -1). */
  static latest(): FakeMessageId {
    return FakeMessageId.of(0x7fffffffffffffffn, 0x7fffffffffffffffn);
  }

  static deserialize(data: Buffer): FakeMessageId {
    return new FakeMessageId(decodeMessageId(data));
  }

  serialize(): Buffer {
    return encodeMessageId(this.parts);
  }

  toString(): string {
    const p = this.parts;
    return `(${p.ledger},${p.entry},${p.partition},${p.batchIndex})`;
  }

  isEarliest(): boolean {
    return this.parts.ledger === -1n && this.parts.entry === -1n;
  }

  isLatest(): boolean {
    return this.parts.ledger === 0x7fffffffffffffffn;
  }
}

/** What the fake broker stores per message. */
export interface StoredMessage {
  readonly id: FakeMessageId;
  readonly topic: string;
  readonly data: Buffer;
  readonly properties: Readonly<Record<string, string>>;
  readonly publishTimestamp: number;
  readonly eventTimestamp: number;
  readonly producerName: string;
  readonly sequenceId: number;
  readonly partitionKey: string;
  readonly orderingKey: string;
}

export class FakeMessage implements Message {
  constructor(private readonly stored: StoredMessage) {}

  getTopicName(): string {
    return this.stored.topic;
  }
  getProperties(): { [key: string]: string } {
    return { ...this.stored.properties };
  }
  getData(): Buffer {
    return Buffer.from(this.stored.data);
  }
  getMessageId(): MessageId {
    return this.stored.id;
  }
  getPublishTimestamp(): number {
    return this.stored.publishTimestamp;
  }
  getEventTimestamp(): number {
    return this.stored.eventTimestamp;
  }
  getRedeliveryCount(): number {
    return 0;
  }
  getPartitionKey(): string {
    return this.stored.partitionKey;
  }
  getOrderingKey(): string {
    return this.stored.orderingKey;
  }
  getProducerName(): string {
    return this.stored.producerName;
  }
  isReplicated(): boolean {
    return false;
  }
  getReplicatedFrom(): string {
    return '';
  }
  getEncryptionContext(): EncryptionContext | null {
    return null;
  }
}

export function partsOf(id: { serialize(): Buffer }): IdParts {
  return id instanceof FakeMessageId ? id.parts : decodeMessageId(id.serialize());
}
