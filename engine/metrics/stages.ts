/**
 * Stage timings [issue 5]: for every message, the time from its acceptance by the engine
 * (LogRecord.time, ms since the epoch) to each later stage, in one histogram family
 * `abe_stage_latency_seconds{stage}`:
 *
 *   durable       the log answered the append (observed in the process that appended it)
 *   read          the area cursor of this process read it from the log
 *   fanout_start  its fan-out loop began (after earlier messages of the same area)
 *   fanout_end    it was written to every live subscriber of the area in this process
 *   ack           a vehicle acked it (per advancing ack, while the message is still in the ring)
 *
 * Each series is measured from the same origin (accept), so the time spent IN a stage is the
 * difference between consecutive stages: mean(read) - mean(durable) is the mean tail wake-up
 * (exact for means; a guide for quantiles). ./breakdown.ts does that arithmetic.
 *
 * Cost: read / fanout_start / fanout_end are three observes per message per area per process
 * (after the fan-out loop, never inside it); ack is one ring lookup and one observe per
 * advancing ack. Wall-clock ms come from the engine's now() (Date.now), so accept-to-read spans
 * processes; within one batch the later stages add performance.now() deltas for sub-ms detail.
 */
import type { Registry } from 'prom-client';
import { FastHistogram } from './fast-histogram.ts';

export const STAGES = ['durable', 'read', 'fanout_start', 'fanout_end', 'ack'] as const;
export type Stage = (typeof STAGES)[number];

/** Seconds; fine at the low end (LMDB commits, fan-out) and up to the 30 s a resend can take. */
export const STAGE_BUCKETS = [
  0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75, 1, 1.5,
  2.5, 5, 10, 30,
] as const;

export const STAGE_METRIC = 'abe_stage_latency_seconds';

const DURABLE = 0;
const READ = 1;
const FANOUT_START = 2;
const FANOUT_END = 3;
const ACK = 4;

/** What areas/ call (see engine/areas/metrics.ts StageSink). */
export class StageTimings {
  readonly histogram: FastHistogram;

  constructor(registers: readonly Registry[]) {
    this.histogram = new FastHistogram({
      name: STAGE_METRIC,
      help: 'Time from the engine accepting a message to the message reaching a stage (durable, read, fanout_start, fanout_end, ack); the time in a stage is the difference to the previous one',
      buckets: STAGE_BUCKETS,
      labelName: 'stage',
      labelValues: STAGES,
      registers,
    });
  }

  /** The append resolved `seconds` after accept (service.publish measures it). */
  durable(seconds: number): void {
    this.histogram.observeAt(DURABLE, seconds);
  }

  /**
   * One message read and fanned out. `acceptMs`: LogRecord.time; `readMs`: now() when the batch
   * was read; `readPerf`, `startPerf`, `endPerf`: performance.now() at read, fan-out start, end.
   */
  message(acceptMs: number, readMs: number, readPerf: number, startPerf: number, endPerf: number): void {
    const h = this.histogram;
    const read = (readMs - acceptMs) / 1000;
    h.observeAt(READ, read);
    h.observeAt(FANOUT_START, read + (startPerf - readPerf) / 1000);
    h.observeAt(FANOUT_END, read + (endPerf - readPerf) / 1000);
  }

  /** A vehicle's ack advanced to a message accepted at `acceptMs`, at `nowMs`. */
  acked(acceptMs: number, nowMs: number): void {
    this.histogram.observeAt(ACK, (nowMs - acceptMs) / 1000);
  }
}
