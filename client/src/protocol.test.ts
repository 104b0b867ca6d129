/**
 * The SDK against the engine's own tables and parsers (unit, no engine process): the close-code
 * registry, the ack fast path's byte shape, the token glob semantics.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compilePatterns } from '../../engine/auth/patterns.ts';
import { CLOSE } from '../../engine/errors.ts';
import { matchJsonAck, matchMsgpackAck, NOT_AN_ACK } from '../../engine/transports/ws/ack-frame.ts';
import { jsonCodec } from './codec.ts';
import { CLOSE_CODES, closeError, CloseError, ForbiddenError, TokenExpiredError, UnauthorizedError } from './errors.ts';
import { msgpackCodec } from './msgpack.ts';
import { decodeToken, globMatch, refreshAt } from './token.ts';

describe('close codes', () => {
  it('CLOSE_CODES is the engine registry, entry for entry (code, key, reconnect)', () => {
    const engine = Object.entries(CLOSE).map(([key, v]) => [v.code, key, v.reconnect]).sort();
    const sdk = Object.entries(CLOSE_CODES).map(([code, v]) => [Number(code), v.reason, v.reconnect]).sort();
    expect(sdk).toEqual(engine);
  });

  it('one typed error per code; unknown codes by range', () => {
    expect(closeError(4005, 'token_expired')).toBeInstanceOf(TokenExpiredError);
    expect(closeError(4500, 'unauthorized')).toBeInstanceOf(UnauthorizedError);
    expect(closeError(4501, 'forbidden')).toBeInstanceOf(ForbiddenError);
    const terminal = closeError(4777, 'future_terminal');
    expect(terminal).toBeInstanceOf(CloseError);
    expect(terminal.reconnect).toBe(false);
    expect(closeError(4222, 'future_transient').reconnect).toBe(true);
    expect(closeError(1006, '').reconnect).toBe(true);
    for (const [code, v] of Object.entries(CLOSE_CODES)) {
      const e = v.make('detail');
      expect(e.closeCode).toBe(Number(code));
      expect(e.code).toBe(v.reason);
      expect(e.reconnect).toBe(Number(code) >= 4500 ? false : v.reconnect);
    }
  });
});

describe('ack frames hit the engine fast path', () => {
  it('v1.json and v1.msgpack acks, offsets up to 2^53-1', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/), fc.maxSafeNat(), (area, offset) => {
        const j = jsonCodec.encode({ type: 'ack', area, offset });
        expect(matchJsonAck(Buffer.from(j as string), area)).toBe(offset);
        const m = msgpackCodec.encode({ type: 'ack', area, offset }) as Uint8Array;
        // msgpack has no exact uint64 fast path above 2^32 in every encoder; the engine's must accept what we send
        const got = matchMsgpackAck(m, area);
        expect(got === offset || got === NOT_AN_ACK).toBe(true);
        if (offset < 2 ** 32) expect(got).toBe(offset);
      }),
      { numRuns: 500 },
    );
  });
});

describe('tokens', () => {
  it('globMatch gives the engine matcher’s answer on generated patterns and areas', () => {
    const alphabet = fc.constantFrom('a', 'b', ':', '*', '?', '.');
    fc.assert(
      fc.property(fc.string({ unit: alphabet, maxLength: 8 }), fc.string({ unit: fc.constantFrom('a', 'b', ':', '.'), maxLength: 10 }), (pattern, area) => {
        expect(globMatch(pattern, area)).toBe(compilePatterns([pattern])(area));
      }),
      { numRuns: 3000 },
    );
  });

  it('decodes exp/iat/subscribe without verifying; opaque tokens give nothing', () => {
    const body = Buffer.from(JSON.stringify({ sub: 'car-42', exp: 2000, iat: 1000, subscribe: ['city:*'] })).toString('base64url');
    expect(decodeToken(`h.${body}.s`)).toEqual({ exp: 2000, iat: 1000, subscribe: ['city:*'] });
    expect(decodeToken('opaque')).toEqual({ exp: undefined, iat: undefined, subscribe: undefined });
  });

  it('refreshes at 70-90% of the lifetime (issuer clock), never later than exp - 2 s', () => {
    const info = { exp: 1100, iat: 1000, subscribe: undefined };
    const received = 5_000_000; // our clock is far from the issuer's: only the lifetime counts
    expect(refreshAt(info, received, () => 0)).toBe(received + 70_000);
    expect(refreshAt(info, received, () => 1)).toBe(received + 90_000);
    const short = { exp: 1005, iat: 1000, subscribe: undefined };
    expect(refreshAt(short, 1_000_000, () => 1)).toBe(1_000_000 + 3000); // 5 s token: exp - 2 s wins
    expect(refreshAt({ exp: 1002, iat: undefined, subscribe: undefined }, 1_000_000, () => 1)).toBe(1_000_000);
  });
});
