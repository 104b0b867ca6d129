/**
 * Property test: random sequences of append / clock advance / retention sweep / read / reopen
 * against EmbeddedLog must match a plain array model.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock, collect, offsets, waitUntil } from './contract-support.ts';
import { EmbeddedLog } from './embedded.ts';
import { embeddedOptions, removeDir, tempDir } from './testing/embedded-harness.ts';

const AREAS = ['a', 'b'] as const;
const RETENTION = { maxCount: 6, maxAgeMs: 150 };
const IDEM_TTL = 120;

type Op =
  | { kind: 'append'; area: number; n: number; key: string | null }
  | { kind: 'advance'; ms: number }
  | { kind: 'sweep' }
  | { kind: 'read'; area: number; from: number; limit: number }
  | { kind: 'reopen' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('append' as const), area: fc.nat(1), n: fc.integer({ min: 1, max: 4 }), key: fc.option(fc.constantFrom('k1', 'k2', 'k3')) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(0, 10, 25, 50, 75, 150) }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'sweep' as const }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('read' as const), area: fc.nat(1), from: fc.integer({ min: -1, max: 40 }), limit: fc.integer({ min: 0, max: 8 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
);

interface ModelRecord {
  offset: number;
  time: number;
  text: string;
}
interface ModelArea {
  head: number;
  records: ModelRecord[];
  idem: Map<string, { offset: number; time: number }>;
}

function modelFirst(m: ModelArea): number {
  return m.records[0]?.offset ?? m.head + 1;
}

async function check(ops: Op[]): Promise<void> {
  const dir = await tempDir();
  const clock = new ManualClock();
  const make = () =>
    new EmbeddedLog(embeddedOptions(dir, { retention: RETENTION, idempotencyTtlMs: IDEM_TTL, now: () => clock.now(), durability: 'commit' }));
  let log = make();
  await log.open();
  const tails = [collect(log, 'a', 0)];
  const model: ModelArea[] = AREAS.map(() => ({ head: 0, records: [], idem: new Map() }));
  let counter = 0;
  try {
    for (const op of ops) {
      if (op.kind === 'append') {
        const m = model[op.area]!;
        const area = AREAS[op.area]!;
        // n appends fired together (one batch), the key (if any) only on the first
        const texts = Array.from({ length: op.n }, () => `t${++counter}`);
        const now = clock.now();
        const results = await Promise.all(
          texts.map((text, i) =>
            log.append(area, { payload: Buffer.from(text), contentType: 'binary', time: now, expiresAt: 0, ...(i === 0 && op.key ? { idempotencyKey: op.key } : {}) }),
          ),
        );
        texts.forEach((text, i) => {
          const prev = i === 0 && op.key ? m.idem.get(op.key) : undefined;
          if (prev && now - prev.time <= IDEM_TTL) {
            expect(results[i]).toMatchObject({ offset: prev.offset, duplicate: true });
            return;
          }
          m.head++;
          m.records.push({ offset: m.head, time: now, text });
          if (i === 0 && op.key) m.idem.set(op.key, { offset: m.head, time: now });
          expect(results[i]).toMatchObject({ offset: m.head, duplicate: false });
        });
      } else if (op.kind === 'advance') {
        clock.advance(op.ms);
      } else if (op.kind === 'sweep') {
        await log.sweep();
        const cutoff = clock.now() - RETENTION.maxAgeMs;
        for (const m of model) {
          while (m.records.length > 0 && (m.records.length > RETENTION.maxCount || m.records[0]!.time < cutoff)) m.records.shift();
        }
      } else if (op.kind === 'read') {
        const m = model[op.area]!;
        const got = await log.read(AREAS[op.area]!, op.from, op.limit);
        const want = m.records.filter((r) => r.offset >= op.from).slice(0, op.limit);
        expect(got.map((r) => [r.offset, Buffer.from(r.payload).toString()])).toEqual(want.map((r) => [r.offset, r.text]));
      } else {
        await log.close();
        log = make();
        await log.open();
        tails.push(collect(log, 'a', 0));
      }
      for (const [i, m] of model.entries()) {
        expect(await log.state(AREAS[i]!)).toMatchObject({ head: m.head, first: modelFirst(m) });
      }
    }
    // the live tail saw every record of 'a' from the first retained one at each moment, in order
    const last = tails[tails.length - 1]!;
    const headA = model[0]!.head;
    if (modelFirst(model[0]!) <= headA) await waitUntil(() => last.records.length > 0 && last.records[last.records.length - 1]!.offset >= headA, 'tail');
    for (const t of tails) {
      expect(t.problems).toEqual([]);
      const got = offsets(t.records);
      expect(got).toEqual([...got].sort((x, y) => x - y));
    }
  } finally {
    await log.close();
    await removeDir(dir);
  }
}

describe('EmbeddedLog matches an array model', () => {
  it('for random append / advance / sweep / read / reopen sequences', async () => {
    await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 40 }), check), { numRuns: 40 });
  });
});
