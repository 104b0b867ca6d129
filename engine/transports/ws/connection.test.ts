import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AreaCursor } from '../../areas/area-cursor.ts';
import { ANONYMOUS } from '../../auth/jwt.ts';
import { WsConnection, type SubscriptionEntry, type SubscriptionRef } from './connection.ts';
import { SUBPROTOCOLS } from './protocol.ts';

const ref = (area: string, slot: number): SubscriptionRef => ({ cursor: { id: area } as AreaCursor, slot });

describe('WsConnection subscriptions (first one inline, the rest in a Map)', () => {
  it('behaves like a Map of area -> ref | pending attempt id under any sequence of begin/resolve/delete/clear', () => {
    const areas = ['a', 'b', 'c', 'd'];
    const op = fc.record({ kind: fc.constantFrom('begin', 'resolve', 'delete', 'clear'), area: fc.constantFrom(...areas), slot: fc.nat(100) });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const conn = new WsConnection(ANONYMOUS, SUBPROTOCOLS['v1.json'], 0, () => {});
        const model = new Map<string, SubscriptionEntry>();
        const ids = new Set<number>();
        for (const o of ops) {
          if (o.kind === 'begin') {
            const id = conn.beginSubscribe(o.area);
            expect(ids.has(id)).toBe(false); // every attempt has its own id
            ids.add(id);
            model.set(o.area, id);
          } else if (o.kind === 'resolve') {
            const r = ref(o.area, o.slot);
            conn.setSubscription(r);
            model.set(o.area, r);
          } else if (o.kind === 'delete') {
            conn.deleteSubscription(o.area);
            model.delete(o.area);
          } else {
            const detached = conn.clearSubscriptions();
            expect(new Set(detached)).toEqual(new Set([...model.values()].filter((e) => typeof e !== 'number')));
            model.clear();
          }
          expect(conn.subscriptionCount).toBe(model.size);
          for (const a of areas) {
            expect(conn.hasSubscription(a)).toBe(model.has(a));
            expect(conn.subscription(a)).toBe(model.get(a));
          }
          const resolved = [...model.values()].filter((e) => typeof e !== 'number');
          expect(new Set(conn.resolvedSubscriptions())).toEqual(new Set(resolved));
          const only = model.size === 1 ? [...model.values()][0] : undefined;
          expect(conn.soleSubscription()).toBe(only !== undefined && typeof only !== 'number' ? only : null);
          // no Map is kept while at most one subscription exists
          if (model.size <= 1) expect((conn as unknown as { more: unknown }).more).toBeUndefined();
        }
      }),
    );
  });
});

describe('WsConnection details', () => {

  it('moving between areas (subscribe B, unsubscribe A): B moves inline and the ack fast path sees it', () => {
    const conn = new WsConnection(ANONYMOUS, SUBPROTOCOLS['v1.json'], 0, () => {});
    const a = ref('A', 1);
    const b = ref('B', 2);
    conn.setSubscription(a);
    conn.beginSubscribe('B');
    expect(conn.soleSubscription()).toBeNull(); // second one pending: no fast path
    conn.setSubscription(b);
    expect(conn.soleSubscription()).toBeNull();
    conn.deleteSubscription('A');
    expect(conn.soleSubscription()).toBe(b);
    expect(conn.subscriptionCount).toBe(1);
    // the Map for the second subscription is gone again once it is inline
    expect((conn as unknown as { more: unknown }).more).toBeUndefined();
  });

  it('remoteAddress is "" before open and after the socket is gone (no uWS access)', () => {
    const conn = new WsConnection(ANONYMOUS, SUBPROTOCOLS['v1.json'], 0, () => {});
    expect(conn.remoteAddress).toBe('');
    conn.ws = {
      getRemoteAddressAsText: () => {
        throw new Error('Invalid access of closed uWS.WebSocket/SSLWebSocket.');
      },
    } as never;
    expect(conn.remoteAddress).toBe('');
    conn.markGone();
    expect(conn.remoteAddress).toBe('');
  });
});
