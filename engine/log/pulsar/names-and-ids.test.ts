/** Message-id decoding/ordering (MessageIdData protobuf) and topic-name escaping. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareIds, decodeMessageId, encodeMessageId, idKey, isAfterStart, parseIdKey } from './message-id.ts';
import { FakeMessageId } from './testing/fake-message.ts';
import { areaTopic, deadLetterTopic, escapeArea, metaTopic, parseNamespace, unescapeArea, validateDeadLetterSuffix } from './topic-names.ts';

const ns = { tenant: 'city', namespace: 'alerts' };

describe('MessageIdData', () => {
  it('decodes the protobuf the C++ client serializes', () => {
    // ledgerId=12345 (1), entryId=7 (2), batch_index=3 (4), batch_size=10 (6)
    const bytes = Buffer.from([0x08, 0xb9, 0x60, 0x10, 0x07, 0x20, 0x03, 0x30, 0x0a]);
    expect(decodeMessageId(bytes)).toEqual({ ledger: 12345n, entry: 7n, partition: -1, batchIndex: 3, batchSize: 10 });
    // unknown/ack_set fields are skipped: ack_set packed (5, wire 2) and first_chunk_message_id (7, wire 2)
    const withExtras = Buffer.concat([bytes, Buffer.from([0x2a, 0x02, 0x01, 0x02, 0x3a, 0x04, 0x08, 0x01, 0x10, 0x02])]);
    expect(decodeMessageId(withExtras)).toMatchObject({ ledger: 12345n, entry: 7n, batchIndex: 3 });
  });

  it('round-trips, including earliest (-1 as uint64) and latest', () => {
    for (const id of [FakeMessageId.of(0, 0), FakeMessageId.of(9_007_199_254_740_993n, 42, 7, 8), FakeMessageId.earliest(), FakeMessageId.latest()]) {
      expect(decodeMessageId(id.serialize())).toEqual(id.parts);
    }
    expect(decodeMessageId(FakeMessageId.earliest().serialize()).ledger).toBe(-1n);
    expect(() => decodeMessageId(Buffer.from([0x08]))).toThrow(/truncated/);
    expect(() => decodeMessageId(Buffer.from([0x20, 0x01]))).toThrow(/ledgerId/);
  });

  it('orders by ledger, entry, batch index (ledger rollover, batches)', () => {
    const ids = [FakeMessageId.of(7, 0), FakeMessageId.of(7, 1, 0, 2), FakeMessageId.of(7, 1, 1, 2), FakeMessageId.of(7, 2), FakeMessageId.of(9, 0)];
    for (let i = 1; i < ids.length; i++) expect(compareIds(ids[i - 1]!.parts, ids[i]!.parts)).toBeLessThan(0);
    expect(parseIdKey(idKey(ids[2]!.parts))).toEqual({ ledger: 7n, entry: 1n, batchIndex: 1 });
    expect(parseIdKey('7:1')).toBeUndefined();
  });

  it('exclusive start: a batch index excludes up to it, an entry id excludes only a message stored whole there (as the real broker does)', () => {
    const start = FakeMessageId.of(7, 1, 0, 3).parts;
    expect(isAfterStart(FakeMessageId.of(7, 1, 0, 3).parts, start)).toBe(false);
    expect(isAfterStart(FakeMessageId.of(7, 1, 1, 3).parts, start)).toBe(true);
    expect(isAfterStart(FakeMessageId.of(7, 1, 2, 3).parts, FakeMessageId.of(7, 1).parts)).toBe(true);
    expect(isAfterStart(FakeMessageId.of(7, 1).parts, FakeMessageId.of(7, 1).parts)).toBe(false);
    expect(isAfterStart(FakeMessageId.of(8, 0).parts, FakeMessageId.of(7, 5).parts)).toBe(true);
    expect(isAfterStart(FakeMessageId.of(0, 0).parts, FakeMessageId.earliest().parts)).toBe(true);
  });
});

describe('topic names', () => {
  it('escapes everything outside [A-Za-z0-9.] and documents the examples', () => {
    expect(areaTopic(ns, 'city:district-7')).toBe('persistent://city/alerts/area-city_3Adistrict_2D7');
    expect(areaTopic(ns, 'a.b_c')).toBe('persistent://city/alerts/area-a.b_5Fc');
    expect(deadLetterTopic(ns, 'x:1', '-DLQ')).toBe('persistent://city/alerts/area-x_3A1-DLQ');
    expect(metaTopic(ns)).toBe('persistent://city/alerts/abe-meta');
    expect(escapeArea('a-partition-1')).toBe('a_2Dpartition_2D1');
    expect(unescapeArea('caf_u00E9')).toBe('caf\u00e9');
    expect(escapeArea('caf\u00e9')).toBe('caf_E9');
    expect(() => unescapeArea('a_3')).toThrow(/bad escape/);
  });

  it('is injective and reversible, never yields "-" in the escaped part', () => {
    const areaId = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,40}$/);
    fc.assert(
      fc.property(areaId, areaId, (a, b) => {
        const ea = escapeArea(a);
        expect(unescapeArea(ea)).toBe(a);
        expect(ea).toMatch(/^[A-Za-z0-9._]+$/);
        if (a !== b) expect(ea).not.toBe(escapeArea(b));
      }),
    );
  });

  it('validates namespaces and dead-letter suffixes', () => {
    expect(parseNamespace('city/alerts')).toEqual(ns);
    for (const bad of ['city', 'a/b/c', 'a b/c', '/x']) expect(() => parseNamespace(bad)).toThrow(/not a Pulsar namespace/);
    expect(validateDeadLetterSuffix('-DLQ')).toBe('-DLQ');
    for (const bad of ['DLQ', '-', '-a/b', '-x-partition-1']) expect(() => validateDeadLetterSuffix(bad)).toThrow(/dead-letter suffix/);
  });
});
