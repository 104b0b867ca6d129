import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AreaCursor } from '../../areas/area-cursor.ts';
import { ANONYMOUS } from '../../auth/jwt.ts';
import { WsConnection, type SubscriptionRef } from './connection.ts';

const ref = (area: string, slot: number): SubscriptionRef => ({ cursor: { id: area } as AreaCursor, slot });

describe('WsConnection subscriptions (first one inline, the rest in a Map)', () => {
  it('behaves like a Map of area -> ref | null under any sequence of set/resolve/delete', () => {
    const areas = ['a', 'b', 'c', 'd'];
    const op = fc.record({ kind: fc.constantFrom('pending', 'resolve', 'delete', 'clear'), area: fc.constantFrom(...areas), slot: fc.nat(100) });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const conn = new WsConnection(ANONYMOUS, 'json', 0, () => {});
        const model = new Map<string, SubscriptionRef | null>();
        for (const o of ops) {
          if (o.kind === 'pending') {
            conn.setSubscription(o.area, null);
            model.set(o.area, null);
          } else if (o.kind === 'resolve') {
            const r = ref(o.area, o.slot);
            conn.setSubscription(o.area, r);
            model.set(o.area, r);
          } else if (o.kind === 'delete') {
            conn.deleteSubscription(o.area);
            model.delete(o.area);
          } else {
            const detached = conn.clearSubscriptions();
            expect(new Set(detached)).toEqual(new Set([...model.values()].filter((r) => r !== null)));
            model.clear();
          }
          expect(conn.subscriptionCount).toBe(model.size);
          for (const a of areas) {
            expect(conn.hasSubscription(a)).toBe(model.has(a));
            expect(conn.subscription(a)).toBe(model.get(a));
          }
          const resolved = [...model.values()].filter((r) => r !== null);
          expect(new Set(conn.resolvedSubscriptions())).toEqual(new Set(resolved));
          const sole = model.size === 1 ? [...model.values()][0] : null;
          expect(conn.soleSubscription()).toBe(sole);
        }
      }),
    );
  });
});
