/**
 * Review of 332006e: edge cases of the ack fast path that ack-frame.test.ts does not reach
 * (msgpackr never writes uint64 0xcf, str8 areas, uint32 high bit, float64 specials, map headers),
 * checked against the general decoder (decodeClientFrame + validate), plus WsConnection
 * bookkeeping details.
 */
import fc from 'fast-check';
import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import type { AreaCursor } from '../../areas/area-cursor.ts';
import { ANONYMOUS } from '../../auth/jwt.ts';
import { matchJsonAck, matchMsgpackAck, NOT_AN_ACK } from './ack-frame.ts';
import { WsConnection, type SubscriptionRef } from './connection.ts';
import { decodeClientFrame } from './protocol.ts';

function slowPath(bytes: Uint8Array, format: 'json' | 'msgpack', area: string): number {
  try {
    const f = decodeClientFrame(bytes, format === 'msgpack', format);
    return f.type === 'ack' && f.area === area ? f.offset : NOT_AN_ACK;
  } catch {
    return NOT_AN_ACK;
  }
}

/** The fast path may decline anything, but what it accepts the slow path must accept with the same offset. */
function expectAgrees(bytes: Uint8Array, format: 'json' | 'msgpack', area: string): void {
  const fast = format === 'json' ? matchJsonAck(bytes, area) : matchMsgpackAck(bytes, area);
  if (fast !== NOT_AN_ACK) expect(fast, Buffer.from(bytes).toString('hex')).toBe(slowPath(bytes, format, area));
}

/** The msgpack frame up to (not including) the offset value. */
function msgpackPrefix(area: string): Buffer {
  const full = Buffer.from(pack({ type: 'ack', area, offset: 0 }));
  return full.subarray(0, full.length - 1); // offset 0 is one fixint byte
}

const be64 = (v: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(v);
  return b;
};
const f64 = (v: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(v);
  return b;
};

describe('ack fast path edges (review of 332006e)', () => {
  it('uint64 (0xcf) offsets: the general decoder refuses them (msgpackr gives a BigInt), the fast path must too', () => {
    const prefix = msgpackPrefix('a-1');
    const frame = Buffer.concat([prefix, Buffer.from([0xcf]), be64(7n)]);
    expect(slowPath(frame, 'msgpack', 'a-1')).toBe(NOT_AN_ACK); // decodeClientFrame: offset must be a non-negative integer
    expect(matchMsgpackAck(frame, 'a-1')).toBe(NOT_AN_ACK);
  });

  it('every msgpack number tag with random payloads agrees with the general decoder', () => {
    const prefix = msgpackPrefix('area-x');
    fc.assert(
      fc.property(fc.nat(255), fc.uint8Array({ maxLength: 10 }), (tag, rest) => {
        expectAgrees(Buffer.concat([prefix, Buffer.from([tag]), rest]), 'msgpack', 'area-x');
      }),
      { numRuns: 20000 },
    );
  });

  it('uint32 with the high bit set, integral float64s and float64 specials', () => {
    const prefix = msgpackPrefix('a-1');
    for (const v of [0x80000000, 0xffffffff, 0x7fffffff]) {
      const b = Buffer.from(pack({ type: 'ack', area: 'a-1', offset: v }));
      expect(b[b.length - 5]).toBe(0xce);
      expect(matchMsgpackAck(b, 'a-1')).toBe(v);
      expect(slowPath(b, 'msgpack', 'a-1')).toBe(v);
    }
    for (const v of [0, -0, 1, 2 ** 32, 2 ** 53 - 1, 2 ** 53, -1, 1.5, NaN, Infinity, -Infinity, 1e300, Number.MIN_VALUE]) {
      expectAgrees(Buffer.concat([prefix, Buffer.from([0xcb]), f64(v)]), 'msgpack', 'a-1');
    }
    expect(matchMsgpackAck(Buffer.concat([prefix, Buffer.from([0xcb]), f64(2 ** 53)]), 'a-1')).toBe(NOT_AN_ACK);
  });

  it('areas of 31, 32 and 128 characters (fixstr / str8), as msgpackr writes them', () => {
    for (const len of [1, 31, 32, 127, 128]) {
      const area = 'a'.repeat(len);
      const b = Buffer.from(pack({ type: 'ack', area, offset: 42 }));
      expect(matchMsgpackAck(b, area), `len ${len}`).toBe(42);
      expect(slowPath(b, 'msgpack', area)).toBe(42);
      expect(matchMsgpackAck(b, area.slice(1))).toBe(NOT_AN_ACK);
      expect(matchMsgpackAck(b, area + 'a')).toBe(NOT_AN_ACK);
      const j = Buffer.from(JSON.stringify({ type: 'ack', area, offset: 42 }));
      expect(matchJsonAck(j, area)).toBe(42);
    }
  });

  it('map headers other than fixmap(3) / map16(3) are left to the general decoder', () => {
    const map16 = Buffer.from(pack({ type: 'ack', area: 'a-1', offset: 7 }));
    const body = map16.subarray(3);
    for (const head of [[0x82], [0x84], [0xde, 0x00, 0x04], [0xde, 0x01, 0x03], [0xdf, 0, 0, 0, 3]]) {
      const b = Buffer.concat([Buffer.from(head), body]);
      expect(matchMsgpackAck(b, 'a-1'), Buffer.from(head).toString('hex')).toBe(NOT_AN_ACK);
    }
  });

  it('JSON: the largest safe integer, zero, leading zeros, signs', () => {
    const j = (o: string) => new Uint8Array(Buffer.from(`{"type":"ack","area":"a-1","offset":${o}}`));
    expect(matchJsonAck(j('9007199254740991'), 'a-1')).toBe(Number.MAX_SAFE_INTEGER);
    expect(matchJsonAck(j('9007199254740992'), 'a-1')).toBe(NOT_AN_ACK);
    expect(matchJsonAck(j('9999999999999999'), 'a-1')).toBe(NOT_AN_ACK);
    expect(matchJsonAck(j('0'), 'a-1')).toBe(0);
    for (const bad of ['00', '-0', '+1', '0x1', ' 1', '1\n']) expect(matchJsonAck(j(bad), 'a-1'), bad).toBe(NOT_AN_ACK);
  });
});

describe('WsConnection subscriptions (review of 332006e)', () => {
  const ref = (area: string, slot: number): SubscriptionRef => ({ cursor: { id: area } as AreaCursor, slot });

  it('moving between areas (subscribe B, unsubscribe A): B moves inline and the ack fast path sees it', () => {
    const conn = new WsConnection(ANONYMOUS, 'json', 0, () => {});
    const a = ref('A', 1);
    const b = ref('B', 2);
    conn.setSubscription(a);
    conn.beginSubscribe('B');
    expect(conn.soleSubscription()).toBeNull(); // second one pending: no fast path
    conn.setSubscription(b);
    expect(conn.soleSubscription()).toBeNull();
    conn.deleteSubscription('A');
    expect(conn.soleSubscription()).toBe(b);
    expect(conn.subscriptionCount).toBe(1);
    // the Map for the second subscription is gone again once it is inline
    expect((conn as unknown as { more: unknown }).more).toBeUndefined();
  });

  it('remoteAddress is "" before open and after the socket is gone (no uWS access)', () => {
    const conn = new WsConnection(ANONYMOUS, 'json', 0, () => {});
    expect(conn.remoteAddress).toBe('');
    conn.ws = {
      getRemoteAddressAsText: () => {
        throw new Error('Invalid access of closed uWS.WebSocket/SSLWebSocket.');
      },
    } as never;
    expect(conn.remoteAddress).toBe('');
    conn.markGone();
    expect(conn.remoteAddress).toBe('');
  });
});
