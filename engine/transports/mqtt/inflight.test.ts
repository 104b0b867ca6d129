/**
 * The QoS 1 window and the session resend logic, property-tested: a client that receives and
 * acknowledges arbitrary prefixes and drops its connection at arbitrary points, over several
 * reconnects, gets every offset at least once, in order within each connection, never an acked
 * offset again, and DUP=1 on exactly the messages it had been sent before [MQTT-4.4.0-1].
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { packetIdOf } from './encoders.ts';
import { checkpoint, InFlight, resumeFrom } from './inflight.ts';

describe('InFlight', () => {
  it('caps at capacity, detects packet-id collisions, settles cumulatively per subscription', () => {
    const w = new InFlight<string>(3);
    w.add(packetIdOf(1), 'a', 1);
    w.add(packetIdOf(2), 'a', 2);
    w.add(packetIdOf(65536), 'b', 65536); // same id as offset 1 in another area
    expect(w.full).toBe(true);
    expect(packetIdOf(65536)).toBe(packetIdOf(1));
    expect(w.has(packetIdOf(1))).toBe(true);
    expect(w.ack(packetIdOf(2))).toBe(true); // settles a:1 and a:2, not b
    expect([w.ackedSub, w.ackedOffset]).toEqual(['a', 2]);
    expect(w.size).toBe(1);
    expect(w.ack(packetIdOf(2))).toBe(false); // late duplicate PUBACK
    w.removeSub('b');
    expect(w.size).toBe(0);
  });

  it('packet ids stay in 1..65535', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 40 }), (o) => packetIdOf(o) >= 1 && packetIdOf(o) <= 65535));
  });
});

interface Step {
  /** Messages the client reads this connection before it drops (beyond: lost in the socket). */
  readonly reads: number;
  /** After each read, ack it with this probability (acks are in order; an ack covers all before it). */
  readonly ackEvery: number;
}

describe('session resend (model)', () => {
  it('every offset at least once, in order per connection, acked never again, DUP exactly on resends', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 80 }),
        fc.array(fc.record({ reads: fc.nat({ max: 30 }), ackEvery: fc.integer({ min: 1, max: 4 }) }), { maxLength: 8 }),
        (window, total, drops: Step[]) => {
          let stored = { acked: 0, sent: 0 };
          const everSent = new Set<number>();
          let everAcked = 0;
          const received = new Set<number>();
          const run = (step: Step | undefined): void => {
            const from = resumeFrom(1, stored.acked, stored.sent);
            const w = new InFlight<string>(window);
            let sent = from.since;
            let acked = from.since;
            const queue: number[] = []; // sent, not yet read by the client
            const pump = (): void => {
              while (sent < total && !w.full && !w.has(packetIdOf(sent + 1))) {
                const off = ++sent;
                const dup = off <= from.dupUpTo;
                expect(dup).toBe(everSent.has(off)); // DUP exactly on resends
                expect(off).toBeGreaterThan(everAcked); // acked never again
                everSent.add(off);
                w.add(packetIdOf(off), 'area', off);
                queue.push(off);
              }
            };
            pump();
            let reads = 0;
            let prev = from.since;
            while (queue.length > 0 && (step === undefined || reads < step.reads)) {
              const off = queue.shift()!;
              expect(off).toBe(prev + 1); // in order, no gap within a connection
              prev = off;
              received.add(off);
              reads++;
              if (step === undefined || reads % step.ackEvery === 0 || queue.length === 0) {
                expect(w.ack(packetIdOf(off))).toBe(true);
                acked = w.ackedOffset;
                everAcked = Math.max(everAcked, acked);
                pump();
              }
            }
            stored = checkpoint(1, acked, sent, from.dupUpTo);
          };
          for (const d of drops) run(d);
          run(undefined); // finally a connection that reads and acks everything
          for (let o = 1; o <= total; o++) expect(received.has(o)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('QoS 0 resumes after the last sent offset, never with DUP', () => {
    fc.assert(
      fc.property(fc.nat(1000), fc.nat(1000), (a, s) => {
        const r = resumeFrom(0, a, s);
        expect(r.since).toBe(Math.max(a, s));
        expect(r.dupUpTo).toBe(0);
      }),
    );
  });
});
