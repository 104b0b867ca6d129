/**
 * MQTT vehicles (transport mqtt-qos0 / mqtt-qos1) on ./mqtt-codec.ts, for the engine's MQTT
 * listener (MQTT 5: the offset and accept time come in the user properties of each PUBLISH) or
 * any broker (`--target mqtt://host:port`: the offset is the publisher's per-area sequence,
 * derived from `seq` in the payload: the harness's MQTT publisher sends in order on one QoS 1
 * connection, and MQTT keeps that order per topic).
 *
 * Sessions: client id `<prefix><vehicle>`, first connect with a clean start and a session expiry,
 * so a vehicle that drops comes back without clean start and the broker resumes its session
 * (subscription and position): sessionPresent = the resume; a lost session subscribes again and
 * what was missed shows up as lost. MQTT has no head offset in SUBACK: a first subscription
 * counts from 0, i.e. the harness's areas are fresh and subscribed before anything is published.
 * QoS 1: every PUBLISH is PUBACKed; a resend of an offset already seen is counted as
 * `redelivered` (at least once), not as a duplicate, and apart when its DUP flag is not set.
 */
import { parsePayloadStamp, type ParsedMessage } from './message-parse.ts';
import {
  CONNACK,
  DISCONNECT,
  encodeConnect,
  encodePuback,
  encodeSubscribe,
  MqttProtocolError,
  packetLength,
  PINGREQ_BYTES,
  PUBLISH,
  readConnack,
  readPublish,
  readSuback,
  SUBACK,
  type PublishView,
} from './mqtt-codec.ts';
import type { CodecHost, VehicleCodec } from './vehicle-codec.ts';
import { CONNECTING, inc, SUBSCRIBED, UPGRADED, type Vehicle } from './vehicles.ts';
import { acquireRest, fillRest, releaseRest } from './ws-vehicle.ts';

export interface MqttVehicleOptions {
  readonly transport: 'mqtt-qos0' | 'mqtt-qos1';
  readonly version: 4 | 5;
  readonly port: number;
  readonly clientIdPrefix: string;
  /** Password (JWT) per vehicle id, when the target has authentication on. */
  readonly tokenOf?: (vehicleId: number) => string | undefined;
  readonly offsetFrom: 'property' | 'seq';
  readonly areas: number;
  readonly keepaliveSeconds?: number;
}

const view: PublishView = { qos: 0, dup: false, packetId: 0, topicStart: 0, topicEnd: 0, offset: NaN, time: NaN, payloadStart: 0, payloadEnd: 0 };
const parsed: ParsedMessage = { offset: 0, time: 0, sentAtUs: 0, warm: 0 };

export class MqttVehicleCodec implements VehicleCodec {
  readonly transport;
  readonly port: number;
  private readonly qos: 0 | 1;
  private readonly live = new Set<Vehicle>();
  private readonly timer: NodeJS.Timeout;
  private host!: CodecHost;
  /** Vehicles whose CONNACK said the session was present (no SUBSCRIBE needed). */
  private readonly resumed = new WeakSet<Vehicle>();

  constructor(private readonly o: MqttVehicleOptions) {
    this.transport = o.transport;
    this.port = o.port;
    this.qos = o.transport === 'mqtt-qos1' ? 1 : 0;
    const keepalive = o.keepaliveSeconds ?? 60;
    this.timer = setInterval(() => {
      for (const v of this.live) {
        if (v.sock === null) this.live.delete(v);
        // Only on a session that is up: a reconnecting vehicle's new socket has not sent its
        // CONNECT yet, and a PINGREQ first is a protocol error the broker closes on.
        else if (v.state === SUBSCRIBED) v.sock.write(PINGREQ_BYTES);
      }
    }, (keepalive * 1000) / 2);
    this.timer.unref();
  }

  hello(v: Vehicle, host: CodecHost): Buffer {
    this.host = host;
    releaseRest(v);
    const clientId = `${this.o.clientIdPrefix}${v.id}`;
    const token = this.o.tokenOf?.(v.id);
    return encodeConnect({
      version: this.o.version,
      clientId,
      ...(token !== undefined && { username: clientId, password: token }),
      clean: !v.everSubscribed,
      keepaliveSeconds: this.o.keepaliveSeconds ?? 60,
      sessionExpirySeconds: 600,
    });
  }

  subscribe(v: Vehicle, host: CodecHost): Buffer | undefined {
    if (this.resumed.has(v)) return undefined;
    return encodeSubscribe(this.o.version, 1, `areas/${host.areaNames[v.area]}`, this.qos);
  }

  ack(): undefined {
    return undefined;
  }

  onData(v: Vehicle, buf: Buffer, start: number, end: number, host: CodecHost): void {
    this.host = host;
    // finish a packet split across reads, then scan in place
    while (v.restLen > 0 && start < end) {
      const rest = v.rest as Buffer;
      let need = packetLength(rest, 0, v.restLen);
      if (need === 0) need = v.restLen + 1;
      if (need > host.maxFrameBytes + 16) throw new MqttProtocolError(`packet of ${need} bytes is over the limit`);
      start = fillRest(v, buf, start, end, need);
      const full = packetLength(v.rest as Buffer, 0, v.restLen);
      if (full !== 0 && full === v.restLen) {
        this.onPacket(v, v.rest as Buffer, 0, full);
        releaseRest(v);
      }
    }
    while (start < end && v.sock !== null) {
      const len = packetLength(buf, start, end);
      if (len === 0 || start + len > end) {
        const rest = acquireRest(Math.max(end - start, len, 16));
        buf.copy(rest, 0, start, end);
        v.rest = rest;
        v.restLen = end - start;
        return;
      }
      this.onPacket(v, buf, start, start + len);
      start += len;
    }
  }

  private onPacket(v: Vehicle, buf: Buffer, s: number, e: number): void {
    const tally = this.host.tally;
    const type = buf[s] >> 4;
    if (type === PUBLISH) {
      readPublish(this.o.version, buf, s, e, view);
      if (view.qos === 1) v.sock?.write(encodePuback(view.packetId));
      const seq = parsePayloadStamp(buf, view.payloadStart, view.payloadEnd, parsed);
      parsed.offset = this.o.offsetFrom === 'property' ? view.offset : Math.floor(seq / this.o.areas) + 1;
      parsed.time = view.time;
      if (Number.isNaN(parsed.offset)) {
        inc(tally.protocolErrors, 'PUBLISH without an offset');
        return;
      }
      // QoS 1 is at least once: an offset seen before is a redelivery, not a duplicate. One
      // without the DUP flag means the broker resumed from an older position than it had sent.
      if (view.qos === 1 && parsed.offset <= v.last && (v.gaps === null || !v.gaps.has(parsed.offset))) {
        tally.redelivered++;
        if (!view.dup) tally.redeliveredWithoutDup++;
        return;
      }
      this.host.message(v, parsed, e - s);
    } else if (type === CONNACK) {
      if (v.state !== CONNECTING) return inc(tally.protocolErrors, 'unexpected CONNACK');
      const c = readConnack(buf, s);
      if (c.code !== 0) return this.host.attemptFailed(v, `connack 0x${c.code.toString(16)}`);
      if (c.sessionPresent && v.everSubscribed) this.resumed.add(v);
      else this.resumed.delete(v);
      this.live.add(v);
      this.host.upgraded(v);
      if (this.resumed.has(v)) this.host.subscribed(v, v.last, v.epoch, true);
    } else if (type === SUBACK) {
      if (v.state !== UPGRADED) return inc(tally.protocolErrors, 'unexpected SUBACK');
      const code = readSuback(this.o.version, buf, s, e);
      if (code >= 0x80) {
        inc(tally.engineErrors, `suback 0x${code.toString(16)}`);
        return this.host.attemptFailed(v, `suback 0x${code.toString(16)}`);
      }
      // A vehicle that lost its session resubscribes: recovered false (what it missed is lost).
      this.host.subscribed(v, v.everSubscribed ? v.last : 0, 'mqtt', false);
    } else if (type === DISCONNECT) {
      const reason = e - s > 2 ? buf[s + 2] : 0;
      inc(tally.closeCodes, `mqtt disconnect 0x${reason.toString(16)}`);
      v.lastError = `disconnect 0x${reason.toString(16)}`;
      v.sock?.destroy();
    }
    // PINGRESP, PUBACK: nothing to do
  }
}
