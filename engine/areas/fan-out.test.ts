import { describe, expect, it } from 'vitest';
import { fanOutBatch } from './fan-out.ts';
import { WRITE_DROPPED, WRITE_OK, type Subscriber } from './subscriber.ts';
import { CATCHING_UP, LIVE, PAUSED, VirtualCursors } from './virtual-cursors.ts';

/** A sink that accepts `budget` frames, then drops; optionally with writeMany. */
class Sink implements Subscriber {
  readonly format = 0;
  skipOrigin: string | undefined = undefined;
  paused = false;
  closed = false;
  readonly got: number[] = [];
  batches = 0;
  constructor(
    private budget = Infinity,
    batch = false,
  ) {
    if (!batch) this.writeMany = undefined;
  }
  write(frame: Uint8Array, offset: number): number {
    if (frame[0] !== offset) throw new Error(`frame of ${frame[0]} written as offset ${offset}`);
    if (this.budget-- <= 0) return WRITE_DROPPED;
    this.got.push(frame[0]);
    return WRITE_OK;
  }
  writeMany?: Subscriber['writeMany'] = (frames, from, to) => {
    this.batches++;
    let n = 0;
    for (let i = from; i < to; i++) {
      if (this.write(frames[i], frames[i][0]) === WRITE_DROPPED) break;
      n++;
    }
    return n;
  };
  bufferedAmount(): number {
    return 0;
  }
  close(): void {
    this.closed = true;
  }
}

// Entries 11..15 (first = 11); frame byte = offset.
const FIRST = 11;
const COUNT = 5;
const frames = [[11, 12, 13, 14, 15].map((o) => Uint8Array.of(o))];
const ORIGINS = ['', '', '', '', ''];

function setup(starts: number[], sinks: Sink[]) {
  const vc = new VirtualCursors(16);
  const slots = starts.map((s) => {
    const slot = vc.alloc(s, 0);
    vc.state[slot] = LIVE;
    return slot;
  });
  return { vc, slots, sinks };
}

describe('fanOutBatch', () => {
  it('sends each subscriber exactly the entries it is missing, in order, one writeMany each', () => {
    const sinks = [new Sink(Infinity, true), new Sink(Infinity, true), new Sink(Infinity, false), new Sink(Infinity, true)];
    // at prev (10), in the middle (12), at prev without writeMany, already past the batch (15)
    const { vc, slots } = setup([10, 12, 10, 15], sinks);
    const r = fanOutBatch(FIRST, COUNT, frames, ORIGINS, slots, sinks, vc, 1);
    expect(sinks.map((s) => s.got)).toEqual([[11, 12, 13, 14, 15], [13, 14, 15], [11, 12, 13, 14, 15], []]);
    expect(sinks.map((s) => s.batches)).toEqual([1, 1, 0, 0]);
    expect(slots.map((s) => vc.sent[s])).toEqual([15, 15, 15, 15]);
    expect(r.delivered).toBe(13);
    expect(r.behind).toBe(0);
  });

  it('a subscriber behind the batch is handed to catch-up, untouched', () => {
    const sinks = [new Sink(Infinity, true)];
    const { vc, slots } = setup([8], sinks);
    const r = fanOutBatch(FIRST, COUNT, frames, ORIGINS, slots, sinks, vc, 1);
    expect(sinks[0].got).toEqual([]);
    expect(vc.state[slots[0]]).toBe(CATCHING_UP);
    expect(vc.sent[slots[0]]).toBe(8);
    expect(r.behind).toBe(1);
  });

  it('a drop mid-batch pauses the subscriber with its cursor at the last frame written', () => {
    const sinks = [new Sink(2, true), new Sink(2, false), new Sink(Infinity, true)];
    const { vc, slots } = setup([10, 10, 10], sinks);
    fanOutBatch(FIRST, COUNT, frames, ORIGINS, slots, sinks, vc, 1);
    expect(sinks.map((s) => s.got)).toEqual([[11, 12], [11, 12], [11, 12, 13, 14, 15]]);
    expect(slots.map((s) => vc.sent[s])).toEqual([12, 12, 15]);
    expect(slots.map((s) => vc.state[s])).toEqual([PAUSED, PAUSED, LIVE]);
    expect(sinks.map((s) => s.paused)).toEqual([true, true, false]);
  });

  it('skips paused subscribers and slots that are not LIVE', () => {
    const sinks = [new Sink(Infinity, true), new Sink(Infinity, true)];
    const { vc, slots } = setup([10, 10], sinks);
    sinks[0].paused = true;
    vc.state[slots[1]] = CATCHING_UP;
    fanOutBatch(FIRST, COUNT, frames, ORIGINS, slots, sinks, vc, 1);
    expect(sinks.map((s) => s.got)).toEqual([[], []]);
    expect(vc.state[slots[0]]).toBe(PAUSED);
  });

  it('No Local: a subscriber skips the entries it published itself, yet its cursor moves past them', () => {
    const sinks = [new Sink(Infinity, true), new Sink(Infinity, true), new Sink(Infinity, false)];
    sinks[0].skipOrigin = 'car-1';
    sinks[2].skipOrigin = 'car-9';
    const { vc, slots } = setup([10, 10, 10], sinks);
    const r = fanOutBatch(FIRST, COUNT, frames, ['', 'car-1', '', 'car-1', 'car-9'], slots, sinks, vc, 1);
    expect(sinks.map((s) => s.got)).toEqual([[11, 13, 15], [11, 12, 13, 14, 15], [11, 12, 13, 14]]);
    expect(sinks.map((s) => s.batches)).toEqual([0, 1, 0]);
    expect(slots.map((s) => vc.sent[s])).toEqual([15, 15, 15]);
    expect(r.delivered).toBe(12);
  });
});
