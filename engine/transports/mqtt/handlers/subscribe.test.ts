import { describe, expect, it } from 'vitest';
import { acceptsDeflate } from './subscribe.ts';

describe('acceptsDeflate (SUBSCRIBE User Property accept-encoding)', () => {
  it('reads the token list as HTTP Accept-Encoding does', () => {
    expect(acceptsDeflate(undefined)).toBe(false);
    expect(acceptsDeflate({})).toBe(false);
    expect(acceptsDeflate({ 'accept-encoding': 'deflate' })).toBe(true);
    expect(acceptsDeflate({ 'Accept-Encoding': 'gzip, DEFLATE' })).toBe(true);
    expect(acceptsDeflate({ 'accept-encoding': 'gzip, deflate;q=0.5' })).toBe(true);
    expect(acceptsDeflate({ 'accept-encoding': 'deflate;q=0' })).toBe(false);
    expect(acceptsDeflate({ 'accept-encoding': 'gzip, br' })).toBe(false);
    expect(acceptsDeflate({ 'accept-encoding': ['gzip', 'deflate'] })).toBe(true); // a repeated property
    expect(acceptsDeflate({ 'content-encoding': 'deflate' })).toBe(false);
    expect(acceptsDeflate({ 'accept-encoding': 'deflatex, x-deflate' })).toBe(false);
  });
});
