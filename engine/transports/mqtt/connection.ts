/**
 * One MQTT client connection over any transport (TCP or WebSocket): the inbound byte stream
 * (framer -> mqtt-packet parser -> dispatcher), control packets out, QoS 1 flow control for the
 * area cursors' writes, and one teardown path that persists the session.
 */
import { generate, type IConnectPacket, type Packet } from 'mqtt-packet';
import { WRITE_DROPPED, WRITE_OK } from '../../areas/subscriber.ts';
import type { Principal } from '../../auth/types.ts';
import { MQTT_CLOSE, MQTT_REASON, type CloseReason, type MqttReason } from '../../errors.ts';
import type { StoredSession } from '../../sessions/types.ts';
import type { MqttContext } from './context.ts';
import { packetIdOf, withDup, type MqttVersion } from './encoders.ts';
import { expiryPatched } from './publish-frame.ts';
import { PacketFramer } from './framer.ts';
import { InFlight } from './inflight.ts';
import { armKeepalive } from './keepalive.ts';
import { checkConnectHeader, fastPath } from './inbound.ts';
import { parseOne } from './parse-one.ts';
import { saveSessionOf, snapshotOf } from './session-save.ts';
import { hasProperties, propertyViolation } from './properties.ts';
import type { MqttSubscription, SubscriptionOptions } from './subscription.ts';
import type { MqttTransport } from './transport.ts';

export type ConnState = 'new' | 'connecting' | 'connected' | 'closed';

export interface Will {
  readonly area: string;
  readonly payload: Buffer;
  readonly retain: boolean;
  readonly qos: 0 | 1 | 2;
  /** 5.0 Will Properties (User Properties, Response Topic... forwarded like a PUBLISH's). */
  readonly properties: NonNullable<NonNullable<IConnectPacket['will']>['properties']> | undefined;
  readonly contentType?: string;
  readonly ttlSeconds: number;
  /** Will Delay Interval (5.0), seconds. */
  readonly delaySeconds: number;
}

/** The packet handler (dispatch.ts), injected to keep the import graph one-way. */
export type PacketSink = (conn: MqttConnection, packet: Packet) => void;
/** Runs once when the connection is gone (will publication, session persistence live in handlers). */
export type GoneHook = (conn: MqttConnection) => void;

/** Before CONNECT is accepted, packets are bounded tighter than the advertised maximum. */
const PRE_CONNECT_MAX_PACKET = 65_536;

/** The framer's callback, with the connection as argument: no closure per read. */
const onFramed = (conn: MqttConnection, raw: Buffer): boolean => conn.onRawPacket(raw);
/** Every connection's ackChain starts here (one shared settled promise, not one per connection). */
const SETTLED: Promise<void> = Promise.resolve();

let nextId = 1;

export class MqttConnection {
  /**
   * Accept order in this process (TCP accept or WebSocket open): a connection accepted earlier is
   * an older attempt of its client, whenever its CONNECT is read (the takeover race, handlers/connect.ts).
   */
  readonly id = nextId++;
  state: ConnState = 'new';
  version: MqttVersion = 4;
  clientId = '';
  principal: Principal | undefined;
  /** Effective keepalive (ms); 0 = none. */
  keepaliveMs = 0;
  lastPacketAt: number;
  readonly openedAt: number;
  /** The client's Maximum Packet Size (5.0); larger messages are skipped, not sent. */
  clientMaxPacket = Infinity;
  /** Subscriptions use the lean formats: no engine-added properties (Maximum Packet Size too small for them). */
  lean = false;
  /**
   * QoS 2 PUBLISH received, by packet id, until PUBREL: the outcome of the first one, so a resend
   * (DUP) is answered with the same PUBREC and appends nothing [MQTT-4.3.3-10].
   */
  qos2Received: Map<number, Promise<MqttReason>> | undefined;
  /** Shared subscription memberships by filter (`$share/{group}/areas/{area}`); undefined until the first. */
  shares: Map<string, MqttSubscription> | undefined;
  /** Wildcard filters held, with their options (wildcards.ts); undefined until the first. */
  wildcards: Map<string, SubscriptionOptions> | undefined;
  /** The --max-subscriptions warning for wildcard expansion was logged. */
  wildcardQuotaLogged = false;
  /** Session expiry (s) after the engine's cap; 0 = the session ends with the connection. */
  expirySeconds = 0;
  will: Will | undefined;
  /** 5.0 Request Problem Information: reason strings only in CONNACK/DISCONNECT when false. */
  problemInfo = true;
  /** DISCONNECT received (no will unless 5.0 reason 0x04). */
  graceful = false;
  /** Positions changed since the session was last written. */
  dirty = false;
  /** When the session was last written (ms). */
  savedAt = 0;
  readonly subs = new Map<string, MqttSubscription>();
  inflight = new InFlight<MqttSubscription>(1);
  /** Inbound QoS 1 PUBLISH not yet answered. */
  inboundPending = 0;
  /** PUBACKs go out in the order the PUBLISHes came in [MQTT-4.6.0-2]. */
  ackChain: Promise<void> = SETTLED;
  /** Packets held while CONNECT is authenticated (allocated only then). */
  queue: Packet[] | undefined;
  /**
   * Bad input that arrived while CONNECT was being authenticated (a client need not wait for the
   * CONNACK, MQTT 5 §3.1.4, non-normative): applied right after the CONNACK, once the `after`
   * packets queued before it were handled, so a 5.0 client gets a DISCONNECT that says why
   * instead of a bare close. Nothing after it is parsed.
   */
  deferredFailure: { readonly reason: MqttReason; readonly detail: string; readonly after: number } | undefined;
  frameWindowStart = 0;
  frameCount = 0;
  private readonly framer: PacketFramer;
  /** The packet being handled (its bytes, for the 5.0 property re-check). */
  private raw: Buffer | undefined;
  private tornDown = false;
  private resuming = false;
  /** @internal keepalive.ts's timer. */
  keepaliveTimer: NodeJS.Timeout | undefined;
  private rotate = 0;

  constructor(
    readonly ctx: MqttContext,
    readonly transport: MqttTransport,
    /** The dispatcher (inbound.ts's fast path calls it too). */
    readonly sink: PacketSink,
    private readonly onGone: GoneHook,
  ) {
    this.openedAt = this.lastPacketAt = ctx.now();
    this.framer = new PacketFramer(Math.min(PRE_CONNECT_MAX_PACKET, ctx.settings.maxPacketBytes));
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  /**
   * A write was refused since the last resumePaused (the only way areas pause a started
   * subscription): lets a PUBACK skip looking for paused subscriptions when there are none.
   */
  dropped = false;

  /** Over its backpressure budget or window, with subscriptions waiting (for the paused gauge). */
  get paused(): boolean {
    for (const s of this.subs.values()) if (s.paused && s.started) return true;
    if (this.shares !== undefined) for (const m of this.shares.values()) if (m.group?.paused === true && m.group.started) return true;
    return false;
  }

  /** Bytes from the transport: TRANSIENT, valid only during this call (the process's read buffer). */
  onBytes(bytes: Buffer): void {
    if (this.closed || this.deferredFailure !== undefined) return;
    // Not MQTT at all (an HTTP request, TLS...): refuse on the first byte, not at the connect timeout.
    if (this.state === 'new' && this.framer.buffered === 0 && bytes.length > 0 && bytes[0] !== 0x10) {
      this.fail('protocol_error', `first byte 0x${bytes[0].toString(16)} is not CONNECT`);
      return;
    }
    const err = this.framer.push(bytes, onFramed, this);
    if (err !== undefined && !this.closed) {
      this.failInput(err, err === 'packet_too_large' ? `packet over ${this.framer.maxPacket} bytes` : 'malformed remaining length');
    }
  }

  /** @internal One whole packet from the framer (transient bytes, like onBytes's). */
  onRawPacket(raw: Buffer): boolean {
    this.lastPacketAt = this.ctx.now();
    if (this.state === 'connected' && fastPath(this, raw)) return !this.closed;
    if (this.state === 'new') {
      if (!checkConnectHeader(this, raw)) return false;
    }
    // mqtt-packet's fields are views of what it parses, and `raw` is transient: parse a copy.
    const own = Buffer.from(raw);
    const p = parseOne(own, this.version);
    if (typeof p === 'string') {
      this.failInput('malformed_packet', p);
    } else {
      this.raw = own;
      this.onPacket(p);
      this.raw = undefined;
    }
    return !this.closed && this.deferredFailure === undefined;
  }

  /** 5.0 properties are re-checked on their bytes (properties.ts); other packets pay one branch. */
  private onPacket(p: Packet): void {
    if (hasProperties(p)) {
      const v = propertyViolation(this.raw!, p);
      if (v !== undefined) {
        if (p.cmd !== 'connect') return this.failInput(v.reason, v.detail);
        this.version = 5; // only 5.0 has properties: answer with a 5.0 CONNACK
        return this.refuseConnect(v.reason, v.detail);
      }
    }
    try {
      this.sink(this, p);
    } catch (err) {
      // One bad packet must never take the process down (a property mqtt-packet hands over in a
      // shape no handler expected did once): a handler that throws closes this connection only.
      this.ctx.logger.error({ err, conn: this.id, cmd: p.cmd }, 'mqtt packet handler threw; closing this connection');
      if (this.state === 'new' || this.state === 'connecting') this.refuseConnect('unspecified_error', 'internal error');
      else this.disconnect('unspecified_error', 'internal error');
    }
  }

  /** Control packets: always sent (they are small), never counted against the budget. */
  send(packet: Packet): void {
    if (this.closed) return;
    this.transport.write(generate(packet, { protocolVersion: this.version }));
  }

  /** Called by MqttSubscription.write: the pre-encoded PUBLISH of `offset` from the area cursor. */
  writeMessage(sub: MqttSubscription, frame: Uint8Array, offset: number): number {
    if (this.state !== 'connected') return WRITE_DROPPED;
    if (this.transport.buffered() > this.ctx.settings.maxBackpressureBytes) return (this.dropped = true), WRITE_DROPPED;
    this.dirty = true;
    if (frame.byteLength > this.clientMaxPacket) {
      // [MQTT-3.1.2-25]: discard as if it had been sent.
      this.ctx.metrics.oversizeSkipped.inc();
      return WRITE_OK;
    }
    let out = frame;
    if (this.version === 5 && sub.cursor !== undefined) {
      // A ring frame sent later than it was encoded (catch-up) carries the seconds left [MQTT-3.3.2-6].
      const expiresAt = sub.cursor.expiresAtOf(offset);
      if (expiresAt !== 0) out = expiryPatched(frame, expiresAt, this.ctx.now());
    }
    if (sub.qos === 0) return this.transport.write(out);
    const id = packetIdOf(offset);
    // Full window, or the shared packet id is taken by another area's message: wait in the ring.
    if (this.inflight.full || this.inflight.has(id)) return (this.dropped = true), WRITE_DROPPED;
    this.inflight.add(id, sub, offset);
    return this.transport.write(offset <= sub.dupUpTo ? withDup(out) : out);
  }

  /** A PUBACK freed the window or the socket drained: let waiting subscriptions catch up, fairly. */
  resumePaused(): void {
    if (this.state !== 'connected' || this.resuming || !this.dropped) return;
    this.dropped = false;
    if (!this.paused) return;
    this.resuming = true;
    try {
      const list = [...this.subs.values()];
      const n = list.length;
      const budget = this.ctx.settings.maxBackpressureBytes;
      for (let k = 0; k < n; k++) {
        if (this.closed || this.transport.buffered() > budget) break;
        const s = list[(this.rotate + k) % n];
        if (!s.paused || !s.started || s.detached || s.cursor === undefined) continue;
        if (s.qos !== 0 && this.inflight.full) continue;
        s.paused = false;
        s.cursor.resume(s.slot, s);
      }
      this.rotate = n === 0 ? 0 : (this.rotate + 1) % n;
      // A member that can take messages again lets its whole group go on.
      if (this.shares !== undefined && !this.inflight.full) for (const m of this.shares.values()) m.group?.resume();
    } finally {
      this.resuming = false;
      // Some may still wait (budget, window): the next PUBACK or drain looks again.
      this.dropped = this.paused;
    }
  }

  /** Attached subscription leaves (UNSUBSCRIBE, re-SUBSCRIBE with another QoS, teardown). */
  detach(sub: MqttSubscription): void {
    if (sub.detached) return;
    sub.detached = true;
    this.inflight.removeSub(sub);
    if (sub.group !== undefined) {
      for (const [f, m] of this.shares ?? []) if (m === sub) this.shares!.delete(f);
      sub.group.leave(sub);
      return;
    }
    if (this.subs.get(sub.area) === sub) this.subs.delete(sub.area);
    if (sub.slot >= 0 && sub.cursor !== undefined) {
      sub.cursor.detach(sub.slot);
      sub.slot = -1;
      this.ctx.metrics.subscriptions.dec();
    }
  }

  /** The session as it stands (read BEFORE detaching: the slots hold the positions). */
  snapshot(now: number): StoredSession {
    return snapshotOf(this, now);
  }

  /** Writes the session (persistent sessions only). */
  saveSession(): void {
    saveSessionOf(this);
  }

  /** Engine-side close from areas/ (slow_consumer...) or shutdown: deferred, areas may be iterating. */
  close(reason: CloseReason, detail: string): void {
    if (this.closed) return;
    setImmediate(() => this.disconnect(MQTT_CLOSE[reason], detail));
  }

  /** Bad client input: count it, then disconnect with its reason (before CONNACK: just close). */
  fail(reason: MqttReason, detail: string): void {
    if (this.closed) return;
    this.ctx.metrics.badInput(reason).inc();
    this.disconnect(reason, detail);
  }

  /**
   * Bad input in the bytes or packets the client sent: like fail(), except while its CONNECT is
   * being authenticated, when it becomes the deferredFailure applied right after the CONNACK.
   * (The engine's own closes, such as the connect timeout, go through fail() at once.)
   */
  failInput(reason: MqttReason, detail: string): void {
    if (this.closed) return;
    if (this.state === 'connecting') {
      this.deferredFailure ??= { reason, detail, after: this.queue?.length ?? 0 };
      return;
    }
    this.fail(reason, detail);
  }

  /** CONNECT accepted (CONNACK sent): packets may now be as large as advertised. */
  connected(): void {
    this.state = 'connected';
    this.framer.maxPacket = this.ctx.settings.maxPacketBytes;
    if (this.keepaliveMs > 0) armKeepalive(this, this.keepaliveMs * 1.5);
  }

  /** CONNACK with a refusal code (counted as bad input), then close. */
  refuseConnect(reason: MqttReason, detail: string): void {
    if (this.closed) return;
    this.ctx.metrics.badInput(reason).inc();
    this.connackAndClose(reason, detail);
  }

  private connackAndClose(reason: MqttReason, detail: string): void {
    const r = MQTT_REASON[reason] as { v5: number; v4?: number };
    if (this.version === 5) {
      this.send({ cmd: 'connack', sessionPresent: false, reasonCode: r.v5, properties: { reasonString: detail.slice(0, 200) } });
    } else if (r.v4 !== undefined) {
      this.send({ cmd: 'connack', sessionPresent: false, returnCode: r.v4 });
    }
    this.end(reason, detail);
  }

  /** Sends DISCONNECT (5.0, once connected) and closes. Synchronous teardown: not from areas/ loops. */
  disconnect(reason: MqttReason, detail: string): void {
    if (this.closed) return;
    if (this.state === 'connected' && this.version === 5) {
      this.send({ cmd: 'disconnect', reasonCode: MQTT_REASON[reason].v5, properties: { reasonString: detail.slice(0, 200) } });
    }
    this.end(reason, detail);
  }

  private end(reason: MqttReason, detail: string): void {
    this.ctx.metrics.disconnects(reason).inc();
    // Shutdown closes every connection: the endpoint logs that once, not once per socket.
    const level = reason === 'server_shutting_down' ? 'debug' : reason === 'session_taken_over' ? 'info' : 'warn';
    this.ctx.logger[level](
      { conn: this.id, clientId: this.clientId, remote: this.transport.remoteAddress, transport: this.transport.kind, reason, code: MQTT_REASON[reason].v5, detail },
      'closing mqtt connection',
    );
    this.teardown();
    this.transport.end();
  }

  /** The client sent DISCONNECT: close without a DISCONNECT of ours. */
  clientDisconnected(): void {
    if (this.closed) return;
    this.teardown();
    this.transport.end();
  }

  /** The transport closed (peer, error, or after end()). */
  onTransportClosed(): void {
    this.teardown();
  }

  private teardown(): void {
    this.state = 'closed';
    if (this.tornDown) return;
    this.tornDown = true;
    if (this.keepaliveTimer !== undefined) clearTimeout(this.keepaliveTimer);
    this.queue = undefined;
    this.onGone(this);
    for (const s of [...this.subs.values()]) this.detach(s);
    for (const m of [...(this.shares?.values() ?? [])]) this.detach(m);
  }
}
