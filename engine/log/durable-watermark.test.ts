import { describe, expect, it } from 'vitest';
import { DurableWatermark } from './durable-watermark.ts';

function harness() {
  const pending: ((error?: unknown) => void)[] = [];
  const notified: string[] = [];
  const errors: string[] = [];
  const w = new DurableWatermark(
    (done) => pending.push(done),
    (area) => notified.push(area),
    (_e, where) => errors.push(where),
  );
  return { w, pending, notified, errors };
}

describe('DurableWatermark', () => {
  it('idle() waits for the sync in flight, also after close (the log closes the env only then)', async () => {
    const { w, pending } = harness();
    await w.idle(); // nothing running
    w.request('a', 3);
    let idle = false;
    const waiting = w.idle().then(() => (idle = true));
    w.close();
    await new Promise((r) => setTimeout(r, 5));
    expect(idle).toBe(false);
    pending.shift()!();
    await waiting;
    expect(idle).toBe(true);
    expect(pending).toHaveLength(0); // closed: no follow-up sync
  });

  it('nothing is durable until a flush or a sync covers it', () => {
    const { w } = harness();
    expect(w.ceiling('a')).toBe(0);
    w.flushed('a', 5);
    expect(w.ceiling('a')).toBe(5);
    w.flushed('a', 3); // an older flush never lowers it
    expect(w.ceiling('a')).toBe(5);
  });

  it('foreign commits become deliverable only after the env-wide sync, which is coalesced', () => {
    const { w, pending, notified } = harness();
    w.request('a', 10); // starts a sync at once
    w.request('b', 4); // arrive during that sync: both ride the next one
    w.request('a', 12);
    expect(pending).toHaveLength(1); // one sync in flight
    expect(w.ceiling('a')).toBe(0);
    pending.shift()!();
    expect(w.ceiling('a')).toBe(10);
    expect(w.ceiling('b')).toBe(0);
    expect(notified).toEqual(['a']);
    expect(pending).toHaveLength(1); // the follow-up sync for a@12 and b@4
    pending.shift()!();
    expect(w.ceiling('a')).toBe(12);
    expect(w.ceiling('b')).toBe(4);
    expect([...notified].sort()).toEqual(['a', 'a', 'b']);
  });

  it('a failed sync marks nothing durable and reports the error', () => {
    const { w, pending, errors } = harness();
    w.request('a', 7);
    pending.shift()!(new Error('EIO'));
    expect(w.ceiling('a')).toBe(0);
    expect(errors).toEqual(['durability sync']);
    w.request('a', 7); // the next poll asks again
    expect(pending).toHaveLength(1);
  });

  it('asks for nothing already covered', () => {
    const { w, pending } = harness();
    w.flushed('a', 9);
    w.request('a', 9);
    expect(pending).toHaveLength(0);
  });
});
