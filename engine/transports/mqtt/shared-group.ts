/**
 * Shared subscriptions (`$share/{group}/areas/{area}`, MQTT 5 §4.8.2, also accepted from 3.1.1
 * clients as EMQX and Mosquitto do): backend consumers of vehicle data split an area's messages,
 * each message to ONE member. The group is ONE Subscriber of the area cursor, so ONE virtual
 * cursor per (group, area) in this process; its write() hands each message to the next member
 * (round robin) whose connection and send quota can take it, so a slow member never holds the
 * others back. The group's ack point is just below the oldest message a member still owes a
 * PUBACK for.
 *
 * Granted QoS is at most 1: QoS 2 would oblige us to finish a message with the member that
 * started it, even across its reconnect [MQTT-4.8.2-4, -5]. A member that leaves with QoS 1
 * messages unacknowledged gives them back: the group cursor is rewound to the oldest and the
 * rest of the group gets them again (at least once; §4.8.2: the Server MAY send them to another
 * member as soon as the connection is lost). No retained message on a shared subscription
 * (§4.8.2), and No Local on one is a Protocol Error [MQTT-3.8.3-4].
 *
 * All members of a group receive the same bytes: they must share protocol version, QoS and
 * Retain As Published (others are refused with 0x80). A group is per engine process: with
 * --workers, members connected to different processes form one group per process (README).
 */
import type { AreaCursor } from '../../areas/area-cursor.ts';
import type { Since } from '../../areas/registry.ts';
import { WRITE_DROPPED, type Subscriber } from '../../areas/subscriber.ts';
import type { CloseReason } from '../../errors.ts';
import { attachArea } from '../shared/attach.ts';
import type { MqttContext } from './context.ts';
import type { MqttSubscription } from './subscription.ts';

export class SharedGroup implements Subscriber {
  paused = true;
  slot = -1;
  cursor: AreaCursor | undefined;
  epoch = '';
  started = false;
  /** Resolves true once the group has its cursor slot (joinShared). */
  attaching: Promise<boolean> = Promise.resolve(true);
  readonly members: MqttSubscription[] = [];
  /** QoS 1 messages handed to a member and not yet acknowledged: offset -> member. */
  private readonly owed = new Map<number, MqttSubscription>();
  private next = 0;
  private gone = false;

  constructor(
    private readonly ctx: MqttContext,
    /** `{group}/{area}`: the key in ctx.shared. */
    readonly key: string,
    readonly area: string,
    readonly format: number,
  ) {}

  get closed(): boolean {
    return this.gone;
  }

  write(frame: Uint8Array, offset: number): number {
    const n = this.members.length;
    for (let k = 0; k < n; k++) {
      const i = (this.next + k) % n;
      const m = this.members[i];
      if (m.detached || m.conn.state !== 'connected') continue;
      const r = m.conn.writeMessage(m, frame, offset);
      if (r === WRITE_DROPPED) continue;
      this.next = (i + 1) % n;
      if (m.qos !== 0) this.owed.set(offset, m);
      return r;
    }
    return WRITE_DROPPED;
  }

  bufferedAmount(): number {
    return 0;
  }

  /** From the area cursor (fell out of the retained window...): every member hears it. */
  close(reason: CloseReason, detail: string): void {
    for (const m of this.members) m.conn.close(reason, `shared ${this.key}: ${detail}`);
  }

  /** A member's PUBACK (cumulative for that member) moves the group's ack point. */
  acked(member: MqttSubscription, offset: number): void {
    for (const [o, m] of this.owed) if (m === member && o <= offset) this.owed.delete(o);
    this.moveAckPoint();
  }

  /** A member that can take messages again (PUBACK, drained socket): deliver to the group. */
  resume(): void {
    if (!this.started || this.gone || !this.paused || this.cursor === undefined) return;
    this.paused = false;
    this.cursor.resume(this.slot, this);
  }

  join(member: MqttSubscription): void {
    this.members.push(member);
    member.cursor = this.cursor;
    member.epoch = this.epoch;
  }

  /** A member leaves (UNSUBSCRIBE, disconnect): what it owed goes to the others; the last one closes the group. */
  leave(member: MqttSubscription): void {
    const i = this.members.indexOf(member);
    if (i < 0) return;
    this.members.splice(i, 1);
    let oldest = Infinity;
    for (const [o, m] of this.owed) {
      if (m !== member) continue;
      if (o < oldest) oldest = o;
      this.owed.delete(o);
    }
    if (this.members.length === 0) {
      this.gone = true;
      if (this.ctx.shared.get(this.key) === this) this.ctx.shared.delete(this.key);
      if (this.cursor !== undefined && this.slot >= 0) {
        this.cursor.detach(this.slot);
        this.ctx.metrics.subscriptions.dec();
      }
      return;
    }
    if (oldest !== Infinity && this.cursor !== undefined) {
      this.cursor.rewind(this.slot, oldest - 1);
      this.moveAckPoint();
      this.paused = true;
      this.resume();
    }
  }

  /** The group could not be attached: it is forgotten; its members were refused. */
  fail(): void {
    this.gone = true;
    if (this.ctx.shared.get(this.key) === this) this.ctx.shared.delete(this.key);
  }

  /** What a member's session stores for the group: its position as the group's ack point. */
  position(): { acked: number; sent: number } {
    if (this.cursor === undefined || this.slot < 0) return { acked: 0, sent: 0 };
    return this.cursor.positionOf(this.slot);
  }

  private moveAckPoint(): void {
    if (this.cursor === undefined || this.slot < 0) return;
    let oldest = Infinity;
    for (const o of this.owed.keys()) if (o < oldest) oldest = o;
    const point = oldest === Infinity ? this.cursor.positionOf(this.slot).sent : oldest - 1;
    this.cursor.ackOwned(this.slot, point, this.ctx.now());
  }
}

/**
 * Adds `member` to its group for (group, area), creating the group (and its cursor slot, from
 * `since` or the head) if this is the first member in this process. false: refused (another
 * format than the group's) or the log is unavailable; the member is then not in the group.
 */
export async function joinShared(ctx: MqttContext, member: MqttSubscription, group: string, since: Since | undefined): Promise<boolean> {
  const key = `${group}/${member.area}`;
  let g = ctx.shared.get(key);
  if (g !== undefined && g.format !== member.format) return false;
  if (g === undefined) {
    const created = new SharedGroup(ctx, key, member.area, member.format);
    g = created;
    ctx.shared.set(key, g);
    created.attaching = Promise.resolve(attachArea(ctx.areas, ctx.metrics, created, member.area, since, () => !created.closed)).then(
      (res) => {
        if (res === undefined) return false;
        created.slot = res.slot;
        created.cursor = res.cursor;
        created.epoch = res.epoch;
        for (const m of created.members) {
          m.cursor = res.cursor;
          m.epoch = res.epoch;
        }
        return true;
      },
      (err: unknown) => {
        ctx.logger.error({ err, group: key }, 'mqtt shared subscription: log unavailable');
        created.fail();
        return false;
      },
    );
  }
  g.join(member);
  member.group = g;
  if (!(await g.attaching)) return false;
  return !member.detached;
}

/** Delivery to the group begins (after the first member's SUBACK / CONNACK). */
export function startShared(g: SharedGroup): void {
  if (g.started || g.closed || g.cursor === undefined) return;
  g.started = true;
  g.paused = false;
  g.cursor.start(g.slot, g);
}
