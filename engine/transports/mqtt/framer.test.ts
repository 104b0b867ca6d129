/** The packet framer: any split of a byte stream gives the same packets; sizes checked from the header. */
import fc from 'fast-check';
import { generate } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { PacketFramer } from './framer.ts';

const publish = (n: number, size: number) =>
  generate({ cmd: 'publish', topic: `areas/a${n}`, payload: Buffer.alloc(size, n), qos: 0, dup: false, retain: false });

describe('PacketFramer', () => {
  it('reassembles packets across arbitrary chunk boundaries', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 300 }), { minLength: 1, maxLength: 10 }), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1 }), (sizes, cuts) => {
        const packets = sizes.map((s, i) => publish(i, s));
        const stream = Buffer.concat(packets);
        const f = new PacketFramer(10_000);
        const out: Buffer[] = [];
        let at = 0;
        let k = 0;
        // One reused read buffer, as the TCP path reads: what the framer keeps must be its own copy.
        const read = Buffer.alloc(64);
        while (at < stream.length) {
          const n = Math.min(cuts[k++ % cuts.length], stream.length - at);
          stream.copy(read, 0, at, at + n);
          expect(f.push(read.subarray(0, n), (_o, p) => (out.push(Buffer.from(p)), true), undefined)).toBeUndefined();
          read.fill(0xee);
          at += n;
        }
        expect(out).toEqual(packets);
        expect(f.buffered).toBe(0);
      }),
    );
  });

  it('refuses an oversize packet from its header alone, and a 5-byte remaining length', () => {
    expect(new PacketFramer(100).push(Buffer.from([0x30, 0xe8, 0x07]), () => true, undefined)).toBe('packet_too_large');
    expect(new PacketFramer(1 << 30).push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), () => true, undefined)).toBe('malformed_packet');
    expect(new PacketFramer(100).push(Buffer.from([0x30, 0xff]), () => true, undefined)).toBeUndefined(); // waits for more
  });
});
