/** The Content-Length rule of ./framing.ts: exactly what uWS 20.30's parser would refuse after the handler. */
import { describe, expect, it } from 'vitest';
import { contentLengthRefusal } from './framing.ts';

describe('contentLengthRefusal', () => {
  it('passes what uWS frames: no header, 1 to 9 digits (leading zeros included)', () => {
    for (const v of ['', '0', '7', '1048576', '999999999', '000000001']) expect(contentLengthRefusal(v), v).toBeUndefined();
  });

  it('400 bad_request for anything but digits (RFC 9110 §8.6: 1*DIGIT)', () => {
    for (const v of ['-1', '+5', '1e3', '0x10', '5, 5', '12abc', ' ']) expect(contentLengthRefusal(v)?.code, v).toBe('bad_request');
  });

  it('413 payload_too_large for more than 9 digits (10^9 and up, 10^12)', () => {
    for (const v of ['1000000000', '1000000000000', '0000000001']) expect(contentLengthRefusal(v)?.code, v).toBe('payload_too_large');
  });

  it('quotes at most 32 characters of the value', () => {
    expect(contentLengthRefusal('x'.repeat(1000))!.message.length).toBeLessThan(120);
  });
});
