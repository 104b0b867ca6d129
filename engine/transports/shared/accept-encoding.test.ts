import { describe, expect, it } from 'vitest';
import { acceptsCoding } from './accept-encoding.ts';

describe('acceptsCoding (HTTP Accept-Encoding syntax, RFC 9110 §12.5.3)', () => {
  it('its own entry decides, else *', () => {
    expect(acceptsCoding('', 'gzip')).toBe(false);
    expect(acceptsCoding('gzip', 'gzip')).toBe(true);
    expect(acceptsCoding('GZIP, deflate', 'deflate')).toBe(true);
    expect(acceptsCoding('gzip;q=0.5, br', 'gzip')).toBe(true);
    expect(acceptsCoding('gzip;q=0', 'gzip')).toBe(false);
    expect(acceptsCoding('br, *', 'gzip')).toBe(true);
    expect(acceptsCoding('*;q=0', 'gzip')).toBe(false);
    expect(acceptsCoding('gzip;q=0, *', 'gzip')).toBe(false);
    expect(acceptsCoding('x-gzip, gzipx', 'gzip')).toBe(false);
    expect(acceptsCoding('identity', 'gzip')).toBe(false);
  });
});
