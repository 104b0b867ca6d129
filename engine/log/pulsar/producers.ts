/**
 * Producers, one per topic, created on first send, cached, closed after `producerIdleMs` unused.
 *
 * Engine producers disable batching (an append answers as soon as its own entry is persisted) and
 * stamp an explicit sequence id per topic that keeps counting across re-creations, under one
 * producer name per process: with deduplication enabled on the namespace, the broker drops a
 * message it already has (a resend after a lost receipt), and readers drop the same resends when
 * it is not (./area-window.ts).
 *
 * A failed send or create marks the topic failing: the producer is closed, sends to it fail fast
 * with log_unavailable, `anyFailing` is true (the log reports unhealthy: /readyz 503, publishes
 * 503) and a probe re-creates it with jittered exponential backoff until it works.
 */
import type { Client, MessageId, Producer, ProducerMessage } from './client-api.ts';
import { EngineError } from '../../errors.ts';
import { backoffDelay } from './options.ts';

export interface ProducerPoolOptions {
  readonly client: Client;
  readonly producerName: string;
  readonly sendTimeoutMs: number;
  readonly producerIdleMs: number;
  readonly backoffMs: { readonly initial: number; readonly max: number };
  readonly now: () => number;
  readonly onError: (error: unknown, where: string) => void;
}

interface Slot {
  producer?: Producer;
  creating?: Promise<Producer>;
  lastUsed: number;
  seq: number;
  inflight: number;
  failing?: { attempt: number; timer?: NodeJS.Timeout };
}

export class ProducerPool {
  private readonly slots = new Map<string, Slot>();
  private closed = false;

  constructor(private readonly o: ProducerPoolOptions) {}

  get anyFailing(): boolean {
    for (const s of this.slots.values()) if (s.failing) return true;
    return false;
  }

  isFailing(topic: string): boolean {
    return this.slots.get(topic)?.failing !== undefined;
  }

  /**
   * Sends one message; `build` gets the sequence id and is called synchronously right before the
   * send, so sequence ids reach the producer in order. Resolves once the broker acknowledged.
   */
  async send(topic: string, build: (seq: number) => ProducerMessage): Promise<MessageId> {
    const slot = this.slot(topic);
    if (slot.failing) throw new EngineError('log_unavailable', `Pulsar producer for ${topic} is failing; retrying in the background`);
    let producer: Producer;
    try {
      producer = slot.producer ?? (await this.create(topic, slot));
    } catch (error) {
      throw this.fail(topic, slot, error, 'create');
    }
    slot.lastUsed = this.o.now();
    const msg = build(++slot.seq);
    slot.inflight++;
    try {
      return await producer.send(msg);
    } catch (error) {
      // A full send queue is backpressure, not a broken producer.
      if (/ProducerQueueIsFull/.test(String(error))) throw new EngineError('rate_limited', `Pulsar producer queue of ${topic} is full`, { cause: error });
      throw this.fail(topic, slot, error, 'send');
    } finally {
      slot.inflight--;
      slot.lastUsed = this.o.now();
    }
  }

  /** Closes producers unused for producerIdleMs. */
  closeIdle(now: number): void {
    for (const [topic, slot] of this.slots) {
      if (slot.producer && !slot.failing && slot.inflight === 0 && now - slot.lastUsed >= this.o.producerIdleMs) {
        const p = slot.producer;
        slot.producer = undefined;
        p.close().catch((error: unknown) => this.o.onError(error, `closing idle producer of ${topic}`));
      }
    }
  }

  async closeAll(): Promise<void> {
    this.closed = true;
    const closing: Promise<unknown>[] = [];
    for (const slot of this.slots.values()) {
      if (slot.failing?.timer) clearTimeout(slot.failing.timer);
      if (slot.producer) closing.push(slot.producer.close().catch(() => {}));
      slot.producer = undefined;
    }
    await Promise.all(closing);
  }

  private slot(topic: string): Slot {
    let s = this.slots.get(topic);
    if (!s) this.slots.set(topic, (s = { lastUsed: this.o.now(), seq: 0, inflight: 0 }));
    return s;
  }

  private create(topic: string, slot: Slot): Promise<Producer> {
    slot.creating ??= this.o.client
      .createProducer({
        topic,
        producerName: this.o.producerName,
        batchingEnabled: false,
        sendTimeoutMs: this.o.sendTimeoutMs,
        // true would make the C++ client block the event loop when the queue is full
        blockIfQueueFull: false,
        maxPendingMessages: 10_000,
      })
      .then((p) => {
        if (this.closed) {
          void p.close().catch(() => {});
          throw new EngineError('log_unavailable', 'the log is closed');
        }
        slot.producer = p;
        return p;
      })
      .finally(() => {
        slot.creating = undefined;
      });
    return slot.creating;
  }

  private fail(topic: string, slot: Slot, error: unknown, what: string): EngineError {
    if (error instanceof EngineError) return error;
    if (!slot.failing && !this.closed) {
      this.o.onError(error, `Pulsar producer ${what} on ${topic}`);
      slot.failing = { attempt: 0 };
      const p = slot.producer;
      slot.producer = undefined;
      void p?.close().catch(() => {});
      this.scheduleProbe(topic, slot);
    }
    const reason = error instanceof Error ? error.message : String(error);
    return new EngineError('log_unavailable', `Pulsar ${what} failed on ${topic}: ${reason}`, { cause: error });
  }

  private scheduleProbe(topic: string, slot: Slot): void {
    const f = slot.failing;
    if (!f || this.closed) return;
    f.timer = setTimeout(() => {
      f.timer = undefined;
      this.create(topic, slot).then(
        () => {
          slot.failing = undefined;
        },
        (error: unknown) => {
          f.attempt++;
          if (f.attempt % 10 === 0) this.o.onError(error, `Pulsar producer for ${topic} still failing (attempt ${f.attempt})`);
          this.scheduleProbe(topic, slot);
        },
      );
    }, backoffDelay(f.attempt, this.o.backoffMs));
    f.timer.unref?.();
  }
}
