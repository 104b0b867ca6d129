/**
 * Reads an older offset range back from Pulsar: a short-lived Reader started (exclusively) just
 * before an indexed offset, counting data messages from there exactly as the area's reader did.
 * Used only for ranges that fell out of the in-memory cache (a vehicle catching up from far behind,
 * the history endpoint, the age-retention walk); at most one per area at a time.
 *
 * The first data message must be the indexed one: if it is not, Pulsar has already removed it
 * (physical retention shorter than the engine's window) and the replay fails with ReplayGap.
 */
import type { Client, Message } from './client-api.ts';
import type { LogRecord } from '../types.ts';
import type { IndexEntry } from './area-window.ts';
import { tombstone } from './area-window.ts';
import { decodeMessage } from './codec.ts';
import { decodeMessageId, idKey, isAfterStart, type IdParts } from './message-id.ts';
import type { PulsarModule } from './options.ts';

export class ReplayGap extends Error {
  constructor(readonly entry: IndexEntry) {
    super(`offset ${entry.offset} is no longer in the Pulsar topic (physical retention is shorter than the engine's)`);
    this.name = 'ReplayGap';
  }
}

export interface ReplayRequest {
  readonly client: Client;
  readonly pulsar: PulsarModule;
  readonly topic: string;
  readonly entry: IndexEntry;
  /** Inclusive range wanted (entry.offset <= from <= to). */
  readonly from: number;
  readonly to: number;
  readonly isTombstone: (offset: number) => boolean;
  /** Give up when no message arrives for this long. */
  readonly idleTimeoutMs: number;
}

export function replay(req: ReplayRequest): Promise<LogRecord[]> {
  return new Promise<LogRecord[]>((resolve, reject) => {
    const out: LogRecord[] = [];
    let count = req.entry.offset - 1;
    // Anything at or before the start position is not ours (a client re-sending part of a batch).
    let last: IdParts | undefined = req.entry.startAfter ? decodeMessageId(req.entry.startAfter.serialize()) : undefined;
    let done = false;
    let reader: { close(): Promise<unknown> } | undefined;
    let timer: NodeJS.Timeout | undefined;
    const finish = (error?: Error): void => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      void reader?.close().catch(() => {});
      if (error) reject(error);
      else resolve(out);
    };
    const arm = (): void => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => finish(new Error(`replay of ${req.topic} from offset ${req.from} stalled`)), req.idleTimeoutMs);
    };
    const onMessage = (message: Message): void => {
      if (done) return;
      arm();
      const parts = decodeMessageId(message.getMessageId().serialize());
      if (last && !isAfterStart(parts, last)) return;
      last = parts;
      const d = decodeMessage(message);
      if (d.kind === 'control') return;
      count++;
      if (count === req.entry.offset && idKey(parts) !== req.entry.key) return finish(new ReplayGap(req.entry));
      if (count < req.from) return;
      if (req.isTombstone(count) || d.deadLetter !== undefined) out.push(tombstone(count, d.time));
      else out.push({ offset: count, time: d.time, expiresAt: d.expiresAt, contentType: d.contentType, payload: d.payload, ...(d.headers !== undefined && { headers: d.headers }) });
      if (count >= req.to) finish();
    };
    arm();
    req.client
      .createReader({
        topic: req.topic,
        startMessageId: req.entry.startAfter ?? req.pulsar.MessageId.earliest(),
        receiverQueueSize: Math.min(1000, Math.max(10, req.to - req.entry.offset + 1)),
        listener: onMessage,
      })
      .then(
        (r) => {
          reader = r;
          if (done) void r.close().catch(() => {});
        },
        (error: unknown) => finish(error instanceof Error ? error : new Error(String(error))),
      );
  });
}
