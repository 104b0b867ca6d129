/**
 * What PulsarLog needs: a Pulsar client module behind the narrow interface of ./client-api.ts
 * (native, WebSocket, or the test double; picked by ./loader.ts), the client configuration, and
 * the engine's policies.
 */
import type { RetentionPolicy } from '../types.ts';
import type { ClientConfig, PulsarModule } from './client-api.ts';

export type { PulsarModule } from './client-api.ts';

export interface PulsarLogOptions {
  readonly pulsar: PulsarModule;
  readonly client: ClientConfig;
  /** `tenant/namespace` holding the area topics and the meta topic. */
  readonly namespace: string;
  /** The engine's retention window per area (Pulsar's namespace retention must be at least this). */
  readonly retention: RetentionPolicy;
  /** How long an Idempotency-Key is remembered (ms; 0 = as long as retained). */
  readonly idempotencyTtlMs: number;
  /** Dead-letter topic = area topic + this suffix (default `-DLQ`). */
  readonly deadLetterSuffix?: string;
  /** Producer send timeout (ms, default 10000): an append fails with log_unavailable after it. */
  readonly sendTimeoutMs?: number;
  /** Recent records kept in memory per open area for reads; older reads replay from Pulsar (default 10000). */
  readonly cacheRecords?: number;
  /** A reader counts as caught up after this long without a message (ms, default 300). */
  readonly catchUpIdleMs?: number;
  /** Write a checkpoint anchor into an area after this long without one (ms, default 600000). */
  readonly checkpointIntervalMs?: number;
  /** ... or after this many data messages without one (default 1000). */
  readonly checkpointEveryMessages?: number;
  /** Period of the housekeeping sweep (ms, default 1000; 0 = only when sweep() is called). */
  readonly sweepMs?: number;
  /** Close an area's reader after this long unused (ms, default 300000). */
  readonly areaIdleMs?: number;
  /** Close an area's producer after this long without a send (ms, default 60000). */
  readonly producerIdleMs?: number;
  /** Recreate a reader that stayed disconnected this long (ms, default 5000). */
  readonly readerStallMs?: number;
  /** Reconnect backoff (ms): first delay and cap (defaults 100 and 30000, with jitter). */
  readonly backoffMs?: { readonly initial: number; readonly max: number };
  /** Producer name prefix (default `abe-{hostname}-{pid}-{random}`; must be unique per process). */
  readonly producerName?: string;
  /** Clock for record times, retention by age and idempotency (default Date.now). */
  readonly now?: () => number;
  /** Errors with no caller to go to. Default: console.error. */
  readonly onError?: (error: unknown, where: string) => void;
  /** A message the engine cannot decode was dead-lettered (metric hook; reason: a DeadLetterCode of ./codec.ts). */
  readonly onDeadLetter?: (area: string, reason: string) => void;
}

export interface ResolvedPulsarLogOptions extends Required<Omit<PulsarLogOptions, 'onDeadLetter'>> {
  readonly onDeadLetter: (area: string, reason: string) => void;
}

export function resolveOptions(o: PulsarLogOptions, defaultProducerName: string): ResolvedPulsarLogOptions {
  return {
    ...o,
    deadLetterSuffix: o.deadLetterSuffix ?? '-DLQ',
    sendTimeoutMs: o.sendTimeoutMs ?? 10_000,
    cacheRecords: Math.max(1, o.cacheRecords ?? 10_000),
    catchUpIdleMs: o.catchUpIdleMs ?? 300,
    checkpointIntervalMs: o.checkpointIntervalMs ?? 600_000,
    checkpointEveryMessages: o.checkpointEveryMessages ?? 1000,
    sweepMs: o.sweepMs ?? 1000,
    areaIdleMs: o.areaIdleMs ?? 300_000,
    producerIdleMs: o.producerIdleMs ?? 60_000,
    readerStallMs: o.readerStallMs ?? 5000,
    backoffMs: o.backoffMs ?? { initial: 100, max: 30_000 },
    producerName: o.producerName ?? defaultProducerName,
    now: o.now ?? Date.now,
    onError: o.onError ?? ((error, where) => console.error(`[pulsar log] ${where}:`, error)),
    onDeadLetter: o.onDeadLetter ?? (() => {}),
  };
}

/** Exponential backoff with full jitter. */
export function backoffDelay(attempt: number, b: { readonly initial: number; readonly max: number }): number {
  const ceiling = Math.min(b.max, b.initial * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}
