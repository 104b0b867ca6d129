/**
 * The narrow Pulsar client interface PulsarLog is written against: the slice of pulsar-client's
 * API it uses, protocol-neutral. Three implementations sit behind it:
 *
 *   native     pulsar-client (binary protocol, libpulsar)           ./native.ts
 *   websocket  Pulsar's WebSocket API over `ws` (no native library)  ./websocket/
 *   double     the in-memory test double                            ./testing/
 *
 * The one contract suite (../contract.ts) runs against PulsarLog on the double and, through the
 * WebSocket client, on a real broker; the double's own claims are checked on the real broker too
 * (testing/real-pulsar.broker.test.ts). The native client has met no broker here (libpulsar
 * cannot load on these machines).
 */
import type { TokenSource } from './admin.ts';

/** A message position: `serialize()` is the MessageIdData protobuf (./message-id.ts decodes it). */
export interface MessageId {
  serialize(): Buffer;
}

export interface Message {
  getMessageId(): MessageId;
  getData(): Buffer;
  getProperties(): Record<string, string>;
  /** '' where the protocol does not carry it (the WebSocket API does not). */
  getProducerName(): string;
  /** 0 when the producer set none. */
  getEventTimestamp(): number;
  getPublishTimestamp(): number;
  getEncryptionContext(): { readonly isDecryptionFailed: boolean } | null;
}

export interface ProducerMessage {
  readonly data: Buffer;
  readonly properties?: Record<string, string>;
  /** Honoured by the native client; the WebSocket API numbers messages itself (README, "Pulsar"). */
  readonly sequenceId?: number;
  readonly eventTimestamp?: number;
}

export interface ProducerConfig {
  readonly topic: string;
  readonly producerName?: string;
  readonly batchingEnabled?: boolean;
  readonly batchingMaxMessages?: number;
  readonly batchingMaxPublishDelayMs?: number;
  readonly sendTimeoutMs?: number;
  readonly blockIfQueueFull?: boolean;
  readonly maxPendingMessages?: number;
}

export interface Producer {
  /** Resolves once the broker persisted the message. */
  send(message: ProducerMessage): Promise<MessageId>;
  close(): Promise<unknown>;
}

export interface ReaderConfig {
  readonly topic: string;
  /** Exclusive start (earliest(): the first retained message). */
  readonly startMessageId: MessageId;
  readonly receiverQueueSize?: number;
  /** Shown as the consumer name in the broker's topic stats (who reads what). */
  readonly readerName?: string;
  /** Called once per message, in topic order, never inside the caller's turn. */
  readonly listener: (message: Message, reader: Reader) => void;
}

export interface Reader {
  isConnected(): boolean;
  close(): Promise<unknown>;
}

export interface Client {
  createReader(config: ReaderConfig): Promise<Reader>;
  createProducer(config: ProducerConfig): Promise<Producer>;
  /** [topic] for a non-partitioned topic, else its partitions. */
  getPartitionsForTopic(topic: string): Promise<string[]>;
  close(): Promise<unknown>;
}

/** Everything a client needs to connect, whatever its protocol. */
export interface ClientConfig {
  /** native: pulsar://, pulsar+ssl:// or http(s):// lookup URL; websocket: the web service http(s):// URL. */
  readonly serviceUrl: string;
  readonly token?: TokenSource;
  readonly tlsTrustCertsFile?: string;
  /** Log lines of the client library (level: 'debug' | 'info' | 'warn' | 'error'). */
  readonly log?: (level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
}

export type ClientKind = 'native' | 'websocket' | 'double';

/** What PulsarLog gets: a way to make clients, and the earliest/latest positions. */
export interface PulsarModule {
  readonly kind: ClientKind;
  createClient(config: ClientConfig): Client;
  readonly MessageId: { earliest(): MessageId; latest(): MessageId };
}
