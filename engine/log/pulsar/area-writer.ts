/**
 * What an area writes besides appends' data: fences, its genesis, checkpoints, dead letters.
 *
 * - fence: a control message with a random id; once the area's reader has read it back, this
 *   process has seen every message before it (Pulsar's Node API has no non-blocking way to ask
 *   for the last message id).
 * - genesis (single flight): fence; if still no anchor, register the area in the meta topic with
 *   its generation (0 for a new area, previous + 1 for an area that lost its history: a new epoch
 *   `{storeEpoch}.{gen}`), then write the first anchor: "the first data message I read has count
 *   1", or "my fence has count 0" when there was none. Then wait until the reader resolved (from
 *   this genesis or from a racing process's earlier one).
 * - checkpoint: an anchor about the newest message read, written when the area had no anchor for
 *   `checkpointIntervalMs` (jittered) or `checkpointEveryMessages` data messages (e.g. only foreign
 *   producers), so that any reader starting later finds one inside the retained range.
 * - dead letter: the undecodable message, copied to the dead-letter topic with the reason.
 */
import { randomBytes } from 'node:crypto';
import type { Message, MessageId } from './client-api.ts';
import { EngineError } from '../../errors.ts';
import type { AppendRequest } from '../types.ts';
import type { AreaReader } from './area-reader.ts';
import { PROP, controlMessage, dataMessage, epochWithGeneration, type DeadLetterReason } from './codec.ts';

/** `p`, or log_unavailable after `ms` (a message written but never read back). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new EngineError('log_unavailable', `${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export class AreaWriter {
  private genesisP: Promise<void> | undefined;
  private readonly fences = new Map<string, (key: string) => void>();
  private checkpointing = false;
  private jitter = 1 + Math.random() / 2;

  constructor(private readonly a: AreaReader) {}

  private get waitMs(): number {
    return this.a.d.options.sendTimeoutMs * 2 + 1000;
  }

  sendData(req: AppendRequest, register: (seq: number) => void): Promise<MessageId> {
    return this.a.d.producers.send(this.a.d.topic, (seq) => {
      register(seq);
      return dataMessage(req, this.a.d.options.producerName, seq, this.a.anchor());
    });
  }

  genesis(): Promise<void> {
    this.genesisP ??= this.runGenesis().finally(() => {
      this.genesisP = undefined;
    });
    return this.genesisP;
  }

  fenceSeen(id: string, key: string): void {
    this.fences.get(id)?.(key);
  }

  /** Writes a checkpoint when one is due (never awaited by the caller's hot path). */
  async maybeCheckpoint(now: number): Promise<void> {
    const { a } = this;
    const o = a.d.options;
    const due = a.dataSinceAnchor >= o.checkpointEveryMessages || now - a.lastAnchorAt >= o.checkpointIntervalMs * this.jitter;
    const anchor = a.anchor();
    if (!due || this.checkpointing || !anchor) return;
    this.checkpointing = true;
    try {
      await a.d.producers.send(a.d.topic, (seq) => controlMessage('checkpoint', seq, { anchor }));
      a.lastAnchorAt = now;
      a.dataSinceAnchor = 0;
      this.jitter = 1 + Math.random() / 2;
    } catch (error) {
      o.onError(error, `area ${a.area}: checkpoint`);
    } finally {
      this.checkpointing = false;
    }
  }

  deadLetter(message: Message, offset: number, key: string, reason: DeadLetterReason): void {
    const d = this.a.d;
    d.options.onDeadLetter(d.area, reason.code);
    const properties = {
      ...message.getProperties(),
      [PROP.dlqReason]: reason.code,
      [PROP.dlqDetail]: reason.detail,
      [PROP.dlqSourceTopic]: d.topic,
      [PROP.dlqSourceId]: key,
      [PROP.dlqOffset]: String(offset),
      [PROP.dlqArea]: d.area,
    };
    d.deadLetters
      .send(d.deadLetterTopic, (seq) => ({ data: message.getData(), properties, sequenceId: seq }))
      .catch((error: unknown) => d.options.onError(error, `area ${d.area}: dead-lettering offset ${offset}`));
  }

  private async fence(): Promise<string> {
    const id = randomBytes(8).toString('hex');
    const back = new Promise<string>((r) => this.fences.set(id, r));
    try {
      await this.a.d.producers.send(this.a.d.topic, (seq) => controlMessage('fence', seq, { fence: id }));
      return await withTimeout(back, this.waitMs, `${this.a.d.topic}: reading back a fence`);
    } finally {
      this.fences.delete(id);
    }
  }

  private async runGenesis(): Promise<void> {
    const { a } = this;
    const d = a.d;
    const fenceKey = await this.fence();
    if (a.seq.resolved) return;
    const base = Math.max(d.meta.generation(d.area) ?? -1, a.seq.maxSeenGeneration);
    const gen = base < 0 ? 0 : base + 1;
    const epoch = epochWithGeneration(d.meta.epoch, gen);
    await d.meta.register(d.area, gen);
    const first = a.seq.firstPendingDataKey();
    const anchor = first !== undefined ? { ref: first, count: 1, epoch } : { ref: fenceKey, count: 0, epoch };
    if (gen > 0) d.options.onError(new Error(`no usable offset anchor in ${d.topic} although the area existed: it lost its history; starting epoch ${epoch}`), `area ${d.area}`);
    await d.producers.send(d.topic, (seq) => controlMessage('genesis', seq, { anchor }));
    await withTimeout(a.whenResolved(), this.waitMs, `${d.topic}: reading back the genesis`);
  }
}
