/**
 * Wire formats register an encoder; every message is encoded ONCE per registered format when
 * the area cursor reads it, and all subscribers of that format share the bytes
 * [DESIGN "Encode once"].
 */
import type { Compressor } from './compression.ts';
import { jsonOfValue, unpackValue } from './msgpack-value.ts';
import type { LogRecord } from '../log/types.ts';

/** Lazily decoded view of a record's payload, shared by all encoders of one record. */
export class PayloadView {
  private cachedValue: unknown = undefined;
  private decoded = false;
  private cachedJson: string | undefined;
  /** deflated(): undefined = not computed yet; null = compression does not pay. */
  private cachedDeflated: Uint8Array | null | undefined = undefined;
  /** frame(): encoders already run on this record and their frames (a handful at most). */
  private encoders: MessageEncoder[] | undefined;
  private frames: Uint8Array[] | undefined;
  constructor(readonly record: LogRecord) {}

  /**
   * `encoder`'s frame of this record, encoded once: a format built on another one (the +deflate
   * variants) reuses its frame instead of encoding it again, and returns that same array when it
   * does not compress, so the ring holds one copy.
   */
  frame(encoder: MessageEncoder, area: string): Uint8Array {
    const known = this.encoders;
    if (known !== undefined) for (let i = 0; i < known.length; i++) if (known[i] === encoder) return this.frames![i];
    const f = encoder.encode(area, this.record, this);
    (this.encoders ??= []).push(encoder);
    (this.frames ??= []).push(f);
    return f;
  }

  /**
   * The payload bytes as published, compressed once for every format that sends them so
   * (MQTT 5 deflate formats); undefined when compression does not pay for this payload.
   */
  deflated(compressor: Compressor, encoder: string, area: string, overhead = 0): Uint8Array | undefined {
    if (this.cachedDeflated === undefined) this.cachedDeflated = compressor.deflate(encoder, area, this.record.payload, undefined, overhead) ?? null;
    return this.cachedDeflated ?? undefined;
  }

  /** The payload as a JS value: parsed JSON, unpacked msgpack, or the raw bytes (binary). */
  value(): unknown {
    if (!this.decoded) {
      const r = this.record;
      if (r.contentType === 'json') this.cachedValue = JSON.parse(this.jsonText());
      else if (r.contentType === 'msgpack') this.cachedValue = unpackValue(r.payload);
      else this.cachedValue = r.payload;
      this.decoded = true;
    }
    return this.cachedValue;
  }

  /** JSON text of the payload; binary payloads become a base64 string. */
  jsonText(): string {
    if (this.cachedJson === undefined) {
      const r = this.record;
      if (r.contentType === 'json') this.cachedJson = Buffer.from(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength).toString('utf8');
      else if (r.contentType === 'binary') this.cachedJson = JSON.stringify(Buffer.from(r.payload).toString('base64'));
      else this.cachedJson = jsonOfValue(this.value());
    }
    return this.cachedJson;
  }
}

/** Placeholder frame of a lazy format that was not active when the record was encoded. */
export const NOT_ENCODED: Uint8Array = new Uint8Array(0);

export interface MessageEncoder {
  /** Short name for logs and metrics, e.g. 'ws-json'. */
  readonly name: string;
  encode(area: string, record: LogRecord, payload: PayloadView): Uint8Array;
}

/** The ordered list of formats; a Subscriber's `format` is an index into it. */
export class FormatTable {
  private readonly list: MessageEncoder[] = [];

  /** Formats registered lazy and not yet activated: encodeAll gives them NOT_ENCODED. */
  private readonly dormant: boolean[] = [];

  /**
   * `lazy`: not encoded until activate() (MQTT formats: an engine without MQTT subscribers pays
   * nothing for them). Ring entries read before activation hold NOT_ENCODED for it, and catch-up
   * reads those offsets from the log instead (AreaCursor.catchUp).
   */
  add(encoder: MessageEncoder, options: { lazy?: boolean } = {}): number {
    this.list.push(encoder);
    this.dormant.push(options.lazy === true);
    return this.list.length - 1;
  }

  /** Encode this format from now on (sticky). Call before attaching its first subscriber. */
  activate(format: number): void {
    this.dormant[format] = false;
  }

  get size(): number {
    return this.list.length;
  }

  /** Every format's frame for one record (what the ring stores). */
  encodeAll(area: string, record: LogRecord): Uint8Array[] {
    const view = new PayloadView(record);
    const frames = new Array<Uint8Array>(this.list.length);
    for (let i = 0; i < this.list.length; i++) frames[i] = this.dormant[i] ? NOT_ENCODED : view.frame(this.list[i], area);
    return frames;
  }

  /**
   * One format's frame of the record `view` holds (replays from the log: ./replay-cache.ts keeps
   * the view, so a second format of the same record reuses what the first one encoded).
   */
  encodeOne(format: number, area: string, view: PayloadView): Uint8Array {
    return view.frame(this.list[format], area);
  }
}
