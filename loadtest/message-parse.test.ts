/**
 * message-parse reads frames in place in a shared read buffer: a key must be found only inside
 * [start, end) of its own frame, never in the frame after it.
 */
import { describe, expect, it } from 'vitest';
import { makePayload, MESSAGE, NOT_MESSAGE, parseJsonMessage, parsePayloadStamp, type ParsedMessage } from './message-parse.ts';

const fresh = (): ParsedMessage => ({ offset: 0, time: 0, sentAtUs: 0, warm: 0 });

describe('message-parse, frames side by side in one read buffer', () => {
  const stamped = Buffer.from(`{"type":"message","area":"a","offset":8,"time":5,"data":${makePayload(1_712_345_678_901_234, true, 8, 256).toString('latin1')}}`, 'latin1');

  it('reads every frame of a run in place', () => {
    const frames: Buffer[] = [];
    for (let i = 1; i <= 5; i++) frames.push(Buffer.from(`{"type":"message","area":"a","offset":${i},"time":${100 + i},"data":${makePayload(1_000_000 + i, i % 2 === 0, i, 256).toString('latin1')}}`, 'latin1'));
    const buf = Buffer.concat(frames);
    let s = 0;
    for (let i = 1; i <= 5; i++) {
      const e = s + frames[i - 1].length;
      const out = fresh();
      expect(parseJsonMessage(buf, s, e, out)).toBe(MESSAGE);
      expect(out).toEqual({ offset: i, time: 100 + i, sentAtUs: 1_000_000 + i, warm: i % 2 === 0 ? 1 : 0 });
      s = e;
    }
  });

  it('does not take a key from the next frame', () => {
    const bare = Buffer.from('{"type":"message","area":"a","offset":7,"data":{"x":1}}', 'latin1');
    const buf = Buffer.concat([bare, stamped]);
    const out = fresh();
    expect(parseJsonMessage(buf, 0, bare.length, out)).toBe(MESSAGE);
    expect(out.offset).toBe(7);
    expect(out.time).toBeNaN();
    expect(out.sentAtUs).toBeNaN();
    expect(out.warm).toBe(0);
    // A frame cut before its offset's key is not a message, even though the next one has one.
    const cut = Buffer.from('{"type":"message","area":"a"}', 'latin1');
    expect(parseJsonMessage(Buffer.concat([cut, stamped]), 0, cut.length, fresh())).toBe(NOT_MESSAGE);
  });

  it('finds a key that ends exactly at the frame end, and not one cut by it', () => {
    const f = Buffer.from('{"type":"message","offset":12', 'latin1');
    const out = fresh();
    expect(parseJsonMessage(f, 0, f.length, out)).toBe(MESSAGE);
    expect(out.offset).toBe(12);
    expect(parseJsonMessage(f, 0, f.length - 3, fresh())).toBe(NOT_MESSAGE); // '"offset' without ':'
  });

  it('reads a bare payload stamp (MQTT) within its bounds', () => {
    const p = makePayload(1_712_345_678_901_234, false, 99, 256);
    const out = fresh();
    expect(parsePayloadStamp(p, 0, p.length, out)).toBe(99);
    expect(out).toMatchObject({ sentAtUs: 1_712_345_678_901_234, warm: 0 });
    const none = Buffer.from('{"x":1}');
    expect(parsePayloadStamp(Buffer.concat([none, p]), 0, none.length, out)).toBeNaN();
    expect(out.sentAtUs).toBeNaN();
  });
});
