/**
 * One Pulsar Reader that follows a topic for the life of its owner, with the guarantees the owner
 * counts on: messages arrive once each, in message-id order, from where the previous reader left.
 *
 * - Listener delivery (pulsar-client calls it from its listener thread), never `hasNext()` (it
 *   blocks the event loop) nor a `readNext()` loop (each pending call holds a libuv worker thread).
 * - Caught up: no message for `catchUpIdleMs` since the reader started (Pulsar's Node API has no
 *   non-blocking "last message id"; owners that need certainty write a fence and wait for it).
 * - The C++ client reconnects by itself after broker restarts; a reader that stays disconnected
 *   for `readerStallMs`, or is closed by the broker, is recreated after the last message it
 *   delivered (exclusive start), with backoff. A message at or before that position (a redelivery)
 *   is dropped, so the owner never sees a duplicate or a gap (unless retention removed messages in
 *   the meantime: Pulsar then starts at the first retained one).
 */
import type { Client, Message, MessageId, Reader } from './client-api.ts';
import { compareIds, decodeMessageId, idKey, type IdParts } from './message-id.ts';
import { backoffDelay, type PulsarModule } from './options.ts';

export interface Delivered {
  readonly message: Message;
  readonly id: MessageId;
  readonly parts: IdParts;
  readonly key: string;
  /** Id of the message this reader delivered before (undefined: the topic's first retained). */
  readonly prevId: MessageId | undefined;
}

export interface TailingReaderOptions {
  readonly client: Client;
  readonly pulsar: PulsarModule;
  readonly topic: string;
  readonly receiverQueueSize: number;
  /** Consumer name in the broker's topic stats. */
  readonly readerName?: string;
  readonly catchUpIdleMs: number;
  readonly readerStallMs: number;
  readonly backoffMs: { readonly initial: number; readonly max: number };
  readonly onMessage: (d: Delivered) => void;
  readonly onCaughtUp: () => void;
  readonly onError: (error: unknown, where: string) => void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class TailingReader {
  caughtUp = false;
  private reader: Reader | undefined;
  private generation = 0;
  private lastId: MessageId | undefined;
  private lastParts: IdParts | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private disconnectedSince = 0;
  private restarting: Promise<void> | undefined;
  private failing = false;
  private closed = false;

  constructor(private readonly o: TailingReaderOptions) {}

  /** Creates the first reader (from the earliest retained message); rejects if that fails. */
  async start(): Promise<void> {
    await this.create();
  }

  /** Connected and not in a failed recreation. */
  healthy(): boolean {
    return !this.failing && this.reader !== undefined && this.reader.isConnected();
  }

  /** Watchdog, called periodically: recreates a reader that stayed disconnected too long. */
  check(now: number): void {
    if (this.closed || this.restarting || !this.reader) return;
    if (this.reader.isConnected()) {
      this.disconnectedSince = 0;
      return;
    }
    if (this.disconnectedSince === 0) this.disconnectedSince = now;
    else if (now - this.disconnectedSince >= this.o.readerStallMs) void this.restart();
  }

  /** Closes the current reader and creates a new one after the last delivered message. */
  restart(): Promise<void> {
    this.restarting ??= (async () => {
      const old = this.reader;
      this.reader = undefined;
      this.generation++;
      await old?.close().catch(() => {});
      for (let attempt = 0; !this.closed; attempt++) {
        try {
          await this.create();
          this.failing = false;
          return;
        } catch (error) {
          this.failing = true;
          this.o.onError(error, `recreating the reader of ${this.o.topic}`);
          await sleep(backoffDelay(attempt, this.o.backoffMs));
        }
      }
    })().finally(() => {
      this.restarting = undefined;
      this.disconnectedSince = 0;
    });
    return this.restarting;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.generation++;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const r = this.reader;
    this.reader = undefined;
    await r?.close().catch(() => {});
  }

  private async create(): Promise<void> {
    const gen = ++this.generation;
    const reader = await this.o.client.createReader({
      topic: this.o.topic,
      startMessageId: this.lastId ?? this.o.pulsar.MessageId.earliest(),
      receiverQueueSize: this.o.receiverQueueSize,
      ...(this.o.readerName !== undefined && { readerName: this.o.readerName }),
      listener: (message) => {
        if (gen === this.generation && !this.closed) this.deliver(message);
      },
    });
    if (gen !== this.generation || this.closed) {
      await reader.close().catch(() => {});
      return;
    }
    this.reader = reader;
    this.armIdle();
  }

  private deliver(message: Message): void {
    let id: MessageId;
    let parts: IdParts;
    try {
      id = message.getMessageId();
      parts = decodeMessageId(id.serialize());
    } catch (error) {
      this.o.onError(error, `undecodable message id on ${this.o.topic}`);
      return;
    }
    if (this.lastParts && compareIds(parts, this.lastParts) <= 0) return; // redelivered after a reconnect
    const prevId = this.lastId;
    this.lastId = id;
    this.lastParts = parts;
    this.armIdle();
    try {
      this.o.onMessage({ message, id, parts, key: idKey(parts), prevId });
    } catch (error) {
      this.o.onError(error, `handling a message of ${this.o.topic}`);
    }
  }

  private armIdle(): void {
    if (this.caughtUp) return;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.closed || this.caughtUp) return;
      this.caughtUp = true;
      this.o.onCaughtUp();
    }, this.o.catchUpIdleMs);
  }
}
