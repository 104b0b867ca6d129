/**
 * Compression done ONCE per message per wire format, when the area cursor encodes it into the
 * ring [issue 16], so every subscriber of a compressed format gets the same bytes and the
 * fan-out loop does no more work than before. Raw DEFLATE (RFC 1951): what browsers' and Node's
 * DecompressionStream('deflate-raw') and every zlib take, with no header or checksum to pay for.
 *
 * The level is chosen per area (first matching `--compression-areas` rule, else
 * `--compression-level`) and resolved once per area, not per message (pino-style). A frame is
 * sent uncompressed when it is under `--compression-min-bytes` or when deflate saves less than
 * MIN_SAVING of it: the client would pay an inflate for next to nothing.
 */
import { deflateRawSync } from 'node:zlib';
import { compilePatterns, type AreaMatcher } from '../auth/patterns.ts';
import type { CounterLike } from './metrics.ts';

/** First byte of a compressed frame in the `+deflate` subprotocols (transports/ws/protocol.ts). */
export const COMPRESSED_MARKER = 0xc1;

/**
 * Least share of a frame deflate must save to be used: below it the bytes saved are a few
 * percent and the vehicle still pays the inflate (9-16 µs per frame with Node's zlib in
 * `npm run bench -- compression`).
 */
export const MIN_SAVING = 0.1;

export interface CompressionSettings {
  /** Default deflate level, 0 (off) .. 9. */
  readonly level: number;
  /** Frames shorter than this go uncompressed. */
  readonly minBytes: number;
  /** Per-area levels, first match wins (area glob, as in token claims). */
  readonly areas: readonly { readonly pattern: string; readonly level: number }[];
}

export const DEFAULT_COMPRESSION: CompressionSettings = { level: 6, minBytes: 128, areas: [] };

export type CompressionResult = 'compressed' | 'too_small' | 'no_gain' | 'off';

export interface CompressionMetrics {
  /** Frames (or MQTT payloads) offered for compression, by encoder and result. */
  frames(encoder: string, result: CompressionResult): CounterLike;
  /** Bytes before and after, by encoder (the ratio is out / in). */
  bytesIn(encoder: string): CounterLike;
  bytesOut(encoder: string): CounterLike;
  /** CPU seconds spent in deflate, by encoder. */
  seconds(encoder: string): CounterLike;
}

const noop = { inc() {} };
export const NO_COMPRESSION_METRICS: CompressionMetrics = { frames: () => noop, bytesIn: () => noop, bytesOut: () => noop, seconds: () => noop };

/** Areas whose level is remembered before the cache starts over (areas come and go). */
const LEVEL_CACHE_LIMIT = 10_000;

export class Compressor {
  private readonly rules: readonly { readonly match: AreaMatcher; readonly level: number }[];
  private readonly levels = new Map<string, number>();
  /** zlib options per level, made once. */
  private readonly options: { level: number }[] = [];

  constructor(
    readonly settings: CompressionSettings,
    private readonly metrics: CompressionMetrics = NO_COMPRESSION_METRICS,
  ) {
    this.rules = settings.areas.map((r) => ({ match: compilePatterns([r.pattern]), level: r.level }));
    for (let level = 0; level <= 9; level++) this.options.push({ level });
  }

  /** The deflate level of an area (0: never compressed). */
  levelOf(area: string): number {
    let level = this.levels.get(area);
    if (level === undefined) {
      level = this.settings.level;
      for (const r of this.rules) {
        if (r.match(area)) {
          level = r.level;
          break;
        }
      }
      if (this.levels.size >= LEVEL_CACHE_LIMIT) this.levels.clear();
      this.levels.set(area, level);
    }
    return level;
  }

  /**
   * `bytes` deflated at the area's level, behind `prefix` when given (COMPRESSED_MARKER), or
   * undefined when compression does not pay for this frame (send it as it is). `overhead`: bytes
   * the sender adds to mark a compressed payload (MQTT's content-encoding property), counted
   * against the saving.
   */
  deflate(encoder: string, area: string, bytes: Uint8Array, prefix?: number, overhead = 0): Uint8Array | undefined {
    const level = this.levelOf(area);
    const m = this.metrics;
    if (level === 0) {
      m.frames(encoder, 'off').inc();
      return undefined;
    }
    if (bytes.byteLength < this.settings.minBytes) {
      m.frames(encoder, 'too_small').inc();
      return undefined;
    }
    const start = process.hrtime.bigint();
    const packed = deflateRawSync(bytes, this.options[level]);
    m.seconds(encoder).inc(Number(process.hrtime.bigint() - start) / 1e9);
    const size = packed.byteLength + (prefix === undefined ? 0 : 1);
    if (size + overhead > bytes.byteLength * (1 - MIN_SAVING)) {
      m.frames(encoder, 'no_gain').inc();
      return undefined;
    }
    m.frames(encoder, 'compressed').inc();
    m.bytesIn(encoder).inc(bytes.byteLength);
    m.bytesOut(encoder).inc(size);
    if (prefix === undefined) return packed;
    const out = Buffer.allocUnsafe(size);
    out[0] = prefix;
    packed.copy(out, 1);
    return out;
  }
}

/** Parses `--compression-areas`: `pattern=level` entries, comma-separated (`parking:*=9,raw:*=0`). */
export function parseAreaLevels(value: string): { pattern: string; level: number }[] {
  const out: { pattern: string; level: number }[] = [];
  for (const entry of value.split(',')) {
    const e = entry.trim();
    if (e === '') continue;
    const m = /^([A-Za-z0-9._:*?-]{1,128})=([0-9])$/.exec(e);
    if (m === null) throw new Error(`"${e}" is not pattern=level (an area glob, = and a level 0..9)`);
    out.push({ pattern: m[1], level: Number(m[2]) });
  }
  return out;
}
