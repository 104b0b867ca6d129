/**
 * Messages and ids as the WebSocket API carries them. A reader frame is JSON:
 *
 *   {"messageId":"<base64 MessageIdData>","payload":"<base64>","properties":{...},
 *    "publishTime":"2026-12-06T18:32:15.73Z","eventTime":"...","redeliveryCount":0,
 *    "encryptionContext":{...},"key":"..."}
 *
 * `messageId` is the same serialized MessageIdData as the binary protocol's (../message-id.ts),
 * so offsets, anchors and start positions mean the same with either client.
 */
import type { Message, MessageId } from '../client-api.ts';
import { encodeMessageId } from '../message-id.ts';

export class WsMessageId implements MessageId {
  constructor(readonly bytes: Buffer) {}

  static fromBase64(id: string): WsMessageId {
    return new WsMessageId(Buffer.from(id, 'base64'));
  }

  static earliest(): WsMessageId {
    return new WsMessageId(encodeMessageId({ ledger: -1n, entry: -1n, partition: -1, batchIndex: -1, batchSize: 0 }));
  }

  static latest(): WsMessageId {
    return new WsMessageId(encodeMessageId({ ledger: 0x7fffffffffffffffn, entry: 0x7fffffffffffffffn, partition: -1, batchIndex: -1, batchSize: 0 }));
  }

  serialize(): Buffer {
    return this.bytes;
  }
}

const EARLIEST = WsMessageId.earliest().bytes;
const LATEST = WsMessageId.latest().bytes;

/** The reader's `messageId` query parameter for an exclusive start at `id`. */
export function startParam(id: MessageId): string {
  const bytes = id.serialize();
  if (bytes.equals(EARLIEST)) return 'earliest';
  if (bytes.equals(LATEST)) return 'latest';
  return bytes.toString('base64');
}

export interface ReaderFrame {
  readonly messageId: string;
  readonly payload?: string;
  readonly properties?: Record<string, string>;
  readonly publishTime?: string;
  readonly eventTime?: string;
  readonly encryptionContext?: unknown;
}

export function isReaderFrame(v: unknown): v is ReaderFrame {
  return typeof v === 'object' && v !== null && typeof (v as { messageId?: unknown }).messageId === 'string';
}

function time(iso: string | undefined): number {
  if (iso === undefined) return 0;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : 0;
}

export class WsMessage implements Message {
  private readonly id: WsMessageId;
  private readonly data: Buffer;

  constructor(private readonly frame: ReaderFrame) {
    this.id = WsMessageId.fromBase64(frame.messageId);
    this.data = Buffer.from(frame.payload ?? '', 'base64');
  }

  getMessageId(): MessageId {
    return this.id;
  }
  getData(): Buffer {
    return this.data;
  }
  getProperties(): Record<string, string> {
    return { ...(this.frame.properties ?? {}) };
  }
  /** The WebSocket API does not carry the producer name (engine messages say it in `abe-producer`). */
  getProducerName(): string {
    return '';
  }
  getEventTimestamp(): number {
    return time(this.frame.eventTime);
  }
  getPublishTimestamp(): number {
    return time(this.frame.publishTime);
  }
  /**
   * The broker's reader hands over a message it could not decrypt (cryptoFailureAction CONSUME)
   * with its encryption context; one it could decrypt has none. So a context means "still encrypted".
   */
  getEncryptionContext(): { readonly isDecryptionFailed: boolean } | null {
    return this.frame.encryptionContext ? { isDecryptionFailed: true } : null;
  }
}
