import { randomBytes } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { makeAlert } from '../../loadtest/alerts.ts';
import { parseConfig } from '../config.ts';
import { deflated, wsJsonEncoder } from '../transports/ws/message-encoders.ts';
import { FormatTable, type MessageEncoder } from './encoding.ts';
import { COMPRESSED_MARKER, Compressor, DEFAULT_COMPRESSION, parseAreaLevels, type CompressionMetrics, type CompressionResult } from './compression.ts';

function counting(): { metrics: CompressionMetrics; frames: Map<string, number>; bytes: { in: number; out: number } } {
  const frames = new Map<string, number>();
  const bytes = { in: 0, out: 0 };
  return {
    frames,
    bytes,
    metrics: {
      frames: (encoder: string, result: CompressionResult) => ({ inc: () => void frames.set(`${encoder} ${result}`, (frames.get(`${encoder} ${result}`) ?? 0) + 1) }),
      bytesIn: () => ({ inc: (n = 1) => void (bytes.in += n) }),
      bytesOut: () => ({ inc: (n = 1) => void (bytes.out += n) }),
      seconds: () => ({ inc: () => undefined }),
    },
  };
}

describe('Compressor', () => {
  const alert = makeAlert(1, false, 7, 4096);

  it('deflates behind the marker; the rest inflates back to the frame', () => {
    const m = counting();
    const c = new Compressor(DEFAULT_COMPRESSION, m.metrics);
    const out = c.deflate('e', 'city:a', alert, COMPRESSED_MARKER)!;
    expect(out[0]).toBe(COMPRESSED_MARKER);
    expect(inflateRawSync(out.subarray(1)).equals(alert)).toBe(true);
    expect(out.byteLength).toBeLessThan(alert.byteLength * 0.5);
    expect(m.frames.get('e compressed')).toBe(1);
    expect(m.bytes).toEqual({ in: alert.byteLength, out: out.byteLength });
    // Without a prefix: the bare deflate stream (MQTT payloads).
    expect(inflateRawSync(c.deflate('e', 'city:a', alert)!).equals(alert)).toBe(true);
  });

  it('leaves small, incompressible and level-0 frames alone, and counts why', () => {
    const m = counting();
    const c = new Compressor({ level: 6, minBytes: 128, areas: [{ pattern: 'raw:*', level: 0 }] }, m.metrics);
    expect(c.deflate('e', 'city:a', Buffer.alloc(127, 'a'), COMPRESSED_MARKER)).toBeUndefined();
    expect(c.deflate('e', 'city:a', Buffer.alloc(128, 'a'), COMPRESSED_MARKER)).toBeDefined();
    expect(c.deflate('e', 'city:a', randomBytes(4096), COMPRESSED_MARKER)).toBeUndefined();
    expect(c.deflate('e', 'raw:x', alert, COMPRESSED_MARKER)).toBeUndefined();
    expect(Object.fromEntries(m.frames)).toEqual({ 'e too_small': 1, 'e compressed': 1, 'e no_gain': 1, 'e off': 1 });
  });

  it('per-area levels: first matching rule, else the default; remembered per area', () => {
    const c = new Compressor({ level: 6, minBytes: 0, areas: parseAreaLevels('parking:*=9, parking:raw=0 ,lane:?=1') });
    expect(c.levelOf('parking:raw')).toBe(9); // first match wins
    expect(c.levelOf('lane:a')).toBe(1);
    expect(c.levelOf('lane:ab')).toBe(6);
    expect(c.levelOf('city:a')).toBe(6);
    // Higher levels never make the frame larger than level 1 does on a realistic alert.
    const big = makeAlert(1, false, 8, 10_240);
    const l1 = new Compressor({ level: 1, minBytes: 0, areas: [] }).deflate('e', 'a', big)!;
    const l9 = new Compressor({ level: 9, minBytes: 0, areas: [] }).deflate('e', 'a', big)!;
    expect(l9.byteLength).toBeLessThanOrEqual(l1.byteLength);
  });

  it('parseAreaLevels and the flag refuse what is not pattern=level', () => {
    expect(parseAreaLevels('')).toEqual([]);
    for (const bad of ['parking', 'parking=10', '=3', 'a b=1', 'parking:*=-1']) expect(() => parseAreaLevels(bad), bad).toThrow(/pattern=level/);
    expect(() => parseConfig(['--compression-areas', 'parking=10'], {})).toThrow(/--compression-areas: "parking=10" is not pattern=level/);
    expect(() => parseConfig(['--compression-level', '10'], {})).toThrow(/--compression-level: 10 is out of range/);
  });
});

describe('the +deflate formats in the ring', () => {
  it('reuse the base frame: one encode, and the same bytes (one copy) when compression does not pay', () => {
    let encodes = 0;
    const base: MessageEncoder = { name: 'ws-json', encode: (area, r, v) => (encodes++, wsJsonEncoder.encode(area, r, v)) };
    const table = new FormatTable();
    table.add(base);
    table.add(deflated(base, new Compressor(DEFAULT_COMPRESSION)));
    const small = table.encodeAll('city:a', { offset: 1, time: 1, expiresAt: 0, contentType: 'json', payload: Buffer.from('{"n":1}') });
    expect(small[1]).toBe(small[0]);
    const big = table.encodeAll('city:a', { offset: 2, time: 2, expiresAt: 0, contentType: 'json', payload: makeAlert(1, false, 2, 4096) });
    expect(big[1][0]).toBe(COMPRESSED_MARKER);
    expect(inflateRawSync(big[1].subarray(1)).equals(Buffer.from(big[0]))).toBe(true);
    expect(encodes).toBe(2);
  });
});
