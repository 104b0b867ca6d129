/**
 * WebSocket protocol v1 client frames: round trips in both formats, and "anything else is
 * EngineError('bad_frame'), never another exception" [DESIGN "Bad input gets a clear error"].
 */
import fc from 'fast-check';
import { pack, unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { EngineError } from '../../errors.ts';
import { chooseSubprotocol, decodeClientFrame, encodeControl, type ClientFrame, type ServerControl, type WireFormat } from './protocol.ts';

const RUNS = 300;

const areaArb = fc.string({ minLength: 1, maxLength: 256, unit: 'grapheme-composite' }).filter((s) => s.length >= 1 && s.length <= 256);
const offsetArb = fc.maxSafeNat();
const epochArb = fc.string({ minLength: 1, maxLength: 64 }).filter((s) => s.length >= 1 && s.length <= 64);

const frameArb: fc.Arbitrary<ClientFrame> = fc.oneof(
  fc.record({ type: fc.constant('subscribe' as const), area: areaArb }),
  fc.record({ type: fc.constant('subscribe' as const), area: areaArb, since: fc.record({ offset: offsetArb, epoch: epochArb }) }),
  fc.record({ type: fc.constant('ack' as const), area: areaArb, offset: offsetArb }),
  fc.record({ type: fc.constant('unsubscribe' as const), area: areaArb }),
  fc.constant({ type: 'ping' as const }),
);

function encodeJson(v: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(v), 'utf8');
}

function encodeFrame(v: unknown, format: WireFormat): Uint8Array {
  return format === 'json' ? encodeJson(v) : pack(v);
}

/** The decoder's result, or the error it threw (asserted to be bad_frame). */
function decodeOrBadFrame(data: ArrayBuffer | Uint8Array, isBinary: boolean, format: WireFormat): ClientFrame | EngineError {
  try {
    return decodeClientFrame(data, isBinary, format);
  } catch (e) {
    if (!(e instanceof EngineError)) throw new Error(`decodeClientFrame threw a non-EngineError: ${String(e)}`);
    if (e.code !== 'bad_frame') throw new Error(`decodeClientFrame threw EngineError(${e.code}), expected bad_frame`);
    return e;
  }
}

function expectBadFrame(fn: () => unknown): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(EngineError);
  expect((err as EngineError).code).toBe('bad_frame');
}

/** A decoded frame is one of the four shapes with exactly the fields the protocol defines. */
function expectWellFormed(f: ClientFrame): void {
  switch (f.type) {
    case 'ping':
      expect(Object.keys(f)).toEqual(['type']);
      break;
    case 'unsubscribe':
      expect(typeof f.area).toBe('string');
      break;
    case 'ack':
      expect(Number.isSafeInteger(f.offset) && f.offset >= 0).toBe(true);
      break;
    case 'subscribe':
      expect(typeof f.area).toBe('string');
      if (f.since !== undefined) {
        expect(Number.isSafeInteger(f.since.offset) && f.since.offset >= 0).toBe(true);
        expect(typeof f.since.epoch).toBe('string');
      }
      break;
    default:
      throw new Error(`unexpected frame ${JSON.stringify(f)}`);
  }
}

describe('decodeClientFrame: round trips', () => {
  for (const format of ['json', 'msgpack'] as const) {
    const isBinary = format === 'msgpack';

    it(`every valid frame round-trips (${format}, Uint8Array and ArrayBuffer)`, () => {
      fc.assert(
        fc.property(frameArb, (frame) => {
          const bytes = encodeFrame(frame, format);
          expect(decodeClientFrame(bytes, isBinary, format)).toEqual(frame);
          // uWS hands the handler an ArrayBuffer; a view into a larger buffer must also work.
          const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
          expect(decodeClientFrame(ab, isBinary, format)).toEqual(frame);
          const padded = new Uint8Array(bytes.byteLength + 16);
          padded.set(bytes, 8);
          expect(decodeClientFrame(padded.subarray(8, 8 + bytes.byteLength), isBinary, format)).toEqual(frame);
        }),
        { numRuns: RUNS },
      );
    });

    it(`extra fields are dropped and since:null means no since (${format})`, () => {
      fc.assert(
        fc.property(frameArb, fc.dictionary(fc.string().filter((k) => !['type', 'area', 'offset', 'since', '__proto__'].includes(k)), fc.jsonValue()), (frame, extra) => {
          const decoded = decodeClientFrame(encodeFrame({ ...extra, ...frame }, format), isBinary, format);
          expect(decoded).toEqual(frame);
        }),
        { numRuns: 100 },
      );
      expect(decodeClientFrame(encodeFrame({ type: 'subscribe', area: 'a', since: null }, format), isBinary, format)).toEqual({ type: 'subscribe', area: 'a' });
    });
  }

  it('the same frame decodes identically from both formats', () => {
    fc.assert(
      fc.property(frameArb, (frame) => {
        expect(decodeClientFrame(encodeJson(frame), false, 'json')).toEqual(decodeClientFrame(pack(frame), true, 'msgpack'));
      }),
      { numRuns: RUNS },
    );
  });

  it('boundary values are accepted', () => {
    const area = 'x'.repeat(256);
    const epoch = 'e'.repeat(64);
    for (const format of ['json', 'msgpack'] as const) {
      const b = format === 'msgpack';
      expect(decodeClientFrame(encodeFrame({ type: 'ack', area, offset: 0 }, format), b, format)).toEqual({ type: 'ack', area, offset: 0 });
      expect(decodeClientFrame(encodeFrame({ type: 'ack', area: 'a', offset: Number.MAX_SAFE_INTEGER }, format), b, format)).toEqual({
        type: 'ack',
        area: 'a',
        offset: Number.MAX_SAFE_INTEGER,
      });
      expect(decodeClientFrame(encodeFrame({ type: 'subscribe', area: 'a', since: { offset: 0, epoch } }, format), b, format)).toEqual({
        type: 'subscribe',
        area: 'a',
        since: { offset: 0, epoch },
      });
    }
  });
});

describe('decodeClientFrame: bad input is bad_frame and nothing else', () => {
  it('arbitrary bytes (both formats, both frame kinds)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), fc.constantFrom<WireFormat>('json', 'msgpack'), (bytes, isBinary, format) => {
        const r = decodeOrBadFrame(bytes, isBinary, format);
        if (!(r instanceof EngineError)) expectWellFormed(r);
      }),
      { numRuns: 2000 },
    );
  });

  it('arbitrary strings as JSON text frames', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
        const r = decodeOrBadFrame(Buffer.from(s, 'utf8'), false, 'json');
        if (!(r instanceof EngineError)) expectWellFormed(r);
      }),
      { numRuns: 1000 },
    );
  });

  it('arbitrary JSON values in JSON frames', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const r = decodeOrBadFrame(encodeJson(v), false, 'json');
        if (!(r instanceof EngineError)) expectWellFormed(r);
      }),
      { numRuns: 1000 },
    );
  });

  it('arbitrary values (including binary, dates, big ints, nested arrays) in msgpack frames', () => {
    const anyValue = fc.anything({
      withBigInt: true,
      withDate: true,
      withTypedArray: true,
      withNullPrototype: true,
      withObjectString: false,
      withMap: false,
      withSet: false,
    });
    fc.assert(
      fc.property(anyValue, (v) => {
        let bytes: Uint8Array;
        try {
          bytes = pack(v);
        } catch {
          return; // msgpackr cannot encode it: not a frame a client could send
        }
        const r = decodeOrBadFrame(bytes, true, 'msgpack');
        if (!(r instanceof EngineError)) expectWellFormed(r);
      }),
      { numRuns: 1000 },
    );
  });

  it('frames of the right type with mangled fields (both formats)', () => {
    const junk = fc.oneof(
      fc.constant(undefined),
      fc.constant(null),
      fc.boolean(),
      fc.double(),
      fc.integer({ min: -1000, max: -1 }),
      fc.constant(Number.MAX_SAFE_INTEGER + 1),
      fc.constant(1.5),
      fc.string({ maxLength: 4 }),
      fc.constant(''),
      fc.constant('x'.repeat(257)),
      fc.array(fc.nat(), { maxLength: 2 }),
      fc.dictionary(fc.string({ maxLength: 3 }), fc.nat(), { maxKeys: 2 }),
    );
    const mangled = fc.oneof(
      fc.record({ type: fc.constant('ack'), area: junk, offset: junk }),
      fc.record({ type: fc.constant('subscribe'), area: junk }),
      fc.record({ type: fc.constant('subscribe'), area: fc.constant('a'), since: junk }),
      fc.record({ type: fc.constant('subscribe'), area: fc.constant('a'), since: fc.record({ offset: junk, epoch: junk }) }),
      fc.record({ type: fc.constant('unsubscribe'), area: junk }),
      fc.record({ type: junk, area: fc.constant('a') }),
    );
    fc.assert(
      fc.property(mangled, fc.constantFrom<WireFormat>('json', 'msgpack'), (v, format) => {
        const r = decodeOrBadFrame(encodeFrame(v, format), format === 'msgpack', format);
        if (!(r instanceof EngineError)) expectWellFormed(r);
      }),
      { numRuns: 2000 },
    );
  });

  it('specific malformed frames', () => {
    const bad: unknown[] = [
      null,
      42,
      'ping',
      [],
      [{ type: 'ping' }],
      {},
      { type: 'PING' },
      { type: 'publish', area: 'a' },
      { type: 'x'.repeat(1000) },
      { type: 'ack', area: 'a' },
      { type: 'ack', area: 'a', offset: -1 },
      { type: 'ack', area: 'a', offset: 1.5 },
      { type: 'ack', area: 'a', offset: '3' },
      { type: 'ack', area: 'a', offset: 2 ** 53 },
      { type: 'ack', offset: 3 },
      { type: 'ack', area: '', offset: 3 },
      { type: 'ack', area: 'x'.repeat(257), offset: 3 },
      { type: 'ack', area: 5, offset: 3 },
      { type: 'subscribe' },
      { type: 'subscribe', area: 'a', since: 5 },
      { type: 'subscribe', area: 'a', since: 'e:5' },
      { type: 'subscribe', area: 'a', since: false },
      { type: 'subscribe', area: 'a', since: [] },
      { type: 'subscribe', area: 'a', since: [5, 'e'] },
      { type: 'subscribe', area: 'a', since: {} },
      { type: 'subscribe', area: 'a', since: { offset: 5 } },
      { type: 'subscribe', area: 'a', since: { epoch: 'e' } },
      { type: 'subscribe', area: 'a', since: { offset: 5, epoch: '' } },
      { type: 'subscribe', area: 'a', since: { offset: 5, epoch: 'e'.repeat(65) } },
      { type: 'subscribe', area: 'a', since: { offset: 5, epoch: 7 } },
      { type: 'subscribe', area: 'a', since: { offset: -5, epoch: 'e' } },
      { type: 'unsubscribe' },
      { type: 'unsubscribe', area: null },
    ];
    for (const v of bad) {
      expectBadFrame(() => decodeClientFrame(encodeJson(v), false, 'json'));
      expectBadFrame(() => decodeClientFrame(pack(v), true, 'msgpack'));
    }
    for (const text of ['', ' ', '{', '{"type":"ping"', '{"type":"ping"}x', 'undefined', 'NaN', '\u0000', '\ufeff{"type":"ping"}']) {
      expectBadFrame(() => decodeClientFrame(Buffer.from(text), false, 'json'));
    }
    // msgpack: empty, truncated, a bare positive fixint, garbage after a valid frame, reserved 0xc1
    const ping = pack({ type: 'ping' });
    for (const bytes of [new Uint8Array(0), ping.subarray(0, ping.length - 1), Uint8Array.of(0x05), Uint8Array.of(0xc1)]) {
      expectBadFrame(() => decodeClientFrame(bytes, true, 'msgpack'));
    }
  });

  it('msgpack integers beyond 2^53 are bad_frame, not a silently rounded offset', () => {
    // uint64 0xffffffffffffffff
    const u64 = Buffer.concat([pack({ type: 'ack', area: 'a', offset: 0 }).subarray(0, -1), Uint8Array.of(0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)]);
    expect(unpack(pack({ type: 'ack', area: 'a', offset: 0 })).offset).toBe(0);
    expectBadFrame(() => decodeClientFrame(u64, true, 'msgpack'));
    expectBadFrame(() => decodeClientFrame(pack({ type: 'ack', area: 'a', offset: 2n ** 60n }), true, 'msgpack'));
  });
});

describe('decodeClientFrame: frame kind must match the subprotocol', () => {
  it('v1.json rejects binary frames, v1.msgpack rejects text frames, even when the bytes are valid', () => {
    fc.assert(
      fc.property(frameArb, (frame) => {
        expectBadFrame(() => decodeClientFrame(encodeJson(frame), true, 'json'));
        expectBadFrame(() => decodeClientFrame(pack(frame), false, 'msgpack'));
        // and the other format's bytes in the right frame kind are not silently accepted as a frame
        const r1 = decodeOrBadFrame(pack(frame), false, 'json');
        expect(r1).toBeInstanceOf(EngineError);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('chooseSubprotocol', () => {
  const name = (header: string): string | undefined => chooseSubprotocol(header)?.name;

  it('picks the first protocol we speak, in the client order', () => {
    expect(name('v1.json')).toBe('v1.json');
    expect(name('v1.msgpack')).toBe('v1.msgpack');
    expect(name('v1.msgpack, v1.json')).toBe('v1.msgpack');
    expect(name('v1.json,v1.msgpack')).toBe('v1.json');
    expect(name('mqtt, v1.msgpack')).toBe('v1.msgpack');
    expect(name('  v1.json  ')).toBe('v1.json');
    expect(name('chat,  v2.json ,v1.json')).toBe('v1.json');
    expect(name('v1.json+deflate, v1.json')).toBe('v1.json+deflate');
    expect(name('v1.msgpack+deflate,v1.msgpack')).toBe('v1.msgpack+deflate');
    expect(name('v1.json, v1.json+deflate')).toBe('v1.json');
  });

  it('the +deflate variants: base format for client frames, binary server frames', () => {
    expect(chooseSubprotocol('v1.json+deflate')).toEqual({ name: 'v1.json+deflate', format: 'json', deflate: true, binary: true });
    expect(chooseSubprotocol('v1.msgpack+deflate')).toEqual({ name: 'v1.msgpack+deflate', format: 'msgpack', deflate: true, binary: true });
    expect(chooseSubprotocol('v1.json')).toEqual({ name: 'v1.json', format: 'json', deflate: false, binary: false });
    expect(chooseSubprotocol('v1.msgpack')).toEqual({ name: 'v1.msgpack', format: 'msgpack', deflate: false, binary: true });
  });

  it('no header means the default JSON protocol', () => {
    expect(name('')).toBe('v1.json');
    expect(name('   ')).toBe('v1.json');
  });

  it('an offer without any protocol we speak is refused', () => {
    expect(name('mqtt')).toBeUndefined();
    expect(name('V1.JSON')).toBeUndefined();
    expect(name('v1.json2, v1')).toBeUndefined();
    expect(name(',')).toBeUndefined();
    expect(name('v1.json+gzip, deflate')).toBeUndefined();
    expect(name('toString, constructor, __proto__')).toBeUndefined();
  });

  it('property: the result is the first known entry of the offer, or undefined', () => {
    const known = ['v1.json', 'v1.msgpack', 'v1.json+deflate', 'v1.msgpack+deflate'];
    const entry = fc.oneof(fc.constantFrom(...known, 'mqtt', 'v2.json', 'chat', 'toString'), fc.string({ maxLength: 8 }).filter((s) => !s.includes(',')));
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 5 }), fc.constantFrom(',', ', ', ' , '), (names, sep) => {
        const header = names.join(sep);
        fc.pre(header.trim() !== '');
        expect(name(header)).toBe(names.map((n) => n.trim()).find((n) => known.includes(n)));
      }),
      { numRuns: 500 },
    );
  });
});

describe('encodeControl', () => {
  const frames: ServerControl[] = [
    { type: 'subscribed', area: 'a', epoch: 'e1', offset: 7, recovered: true },
    { type: 'unsubscribed', area: 'a' },
    { type: 'error', code: 'bad_frame', message: 'nope', area: 'a' },
    { type: 'error', code: 'bad_ack', message: 'nope' },
    { type: 'pong' },
  ];
  it('JSON is text of the same object, msgpack unpacks to the same object', () => {
    for (const f of frames) {
      expect(JSON.parse(Buffer.from(encodeControl(f, 'json')).toString('utf8'))).toEqual(f);
      expect(unpack(encodeControl(f, 'msgpack'))).toEqual(f);
    }
  });
});
