/**
 * A minimal MQTT client codec for the swarm (3.1.1 = level 4, 5.0 = level 5), just what vehicles
 * and the broker publisher need: CONNECT, SUBSCRIBE, PUBLISH (QoS 0/1), PUBACK, PINGREQ,
 * DISCONNECT out; CONNACK, SUBACK, PUBLISH, PUBACK, PINGRESP, DISCONNECT in. Packets are read
 * in place (like ./ws-codec.ts); of a PUBLISH only the topic, packet id, flags, the user
 * properties `offset` and `time` (the engine's MQTT 5 PUBLISH) and the payload bounds are read.
 */

export const CONNACK = 2;
export const PUBLISH = 3;
export const PUBACK = 4;
export const SUBACK = 9;
export const PINGRESP = 13;
export const DISCONNECT = 14;

export class MqttProtocolError extends Error {}

function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

const str = (s: string | Buffer): Buffer => {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  const out = Buffer.allocUnsafe(2 + b.length);
  out.writeUInt16BE(b.length, 0);
  b.copy(out, 2);
  return out;
};

function packet(first: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first, ...varint(body.length)]), body]);
}

export interface ConnectOptions {
  readonly version: 4 | 5;
  readonly clientId: string;
  readonly username?: string;
  readonly password?: string;
  readonly clean: boolean;
  readonly keepaliveSeconds: number;
  /** MQTT 5: session expiry interval (seconds) so that a reconnect finds the session. */
  readonly sessionExpirySeconds?: number;
}

export function encodeConnect(o: ConnectOptions): Buffer {
  const flags = (o.username !== undefined ? 0x80 : 0) | (o.password !== undefined ? 0x40 : 0) | (o.clean ? 0x02 : 0);
  const head = Buffer.concat([str('MQTT'), Buffer.from([o.version, flags, o.keepaliveSeconds >> 8, o.keepaliveSeconds & 0xff])]);
  let props = Buffer.alloc(0);
  if (o.version === 5) {
    const p: number[] = [];
    if (o.sessionExpirySeconds !== undefined) p.push(0x11, (o.sessionExpirySeconds >>> 24) & 0xff, (o.sessionExpirySeconds >>> 16) & 0xff, (o.sessionExpirySeconds >>> 8) & 0xff, o.sessionExpirySeconds & 0xff);
    p.push(0x21, 0xff, 0xff); // receive maximum 65535
    props = Buffer.from([...varint(p.length), ...p]);
  }
  const payload = [str(o.clientId), ...(o.username !== undefined ? [str(o.username)] : []), ...(o.password !== undefined ? [str(o.password)] : [])];
  return packet(0x10, Buffer.concat([head, props, ...payload]));
}

export function encodeSubscribe(version: 4 | 5, packetId: number, topic: string, qos: 0 | 1): Buffer {
  const props = version === 5 ? Buffer.from([0]) : Buffer.alloc(0);
  return packet(0x82, Buffer.concat([Buffer.from([packetId >> 8, packetId & 0xff]), props, str(topic), Buffer.from([qos])]));
}

export function encodePublish(version: 4 | 5, topic: string, payload: Buffer, qos: 0 | 1, packetId = 0): Buffer {
  const id = qos > 0 ? Buffer.from([packetId >> 8, packetId & 0xff]) : Buffer.alloc(0);
  const props = version === 5 ? Buffer.from([0]) : Buffer.alloc(0);
  return packet(0x30 | (qos << 1), Buffer.concat([str(topic), id, props, payload]));
}

export function encodePuback(packetId: number): Buffer {
  return Buffer.from([0x40, 2, packetId >> 8, packetId & 0xff]);
}

export const PINGREQ_BYTES = Buffer.from([0xc0, 0]);
export const DISCONNECT_BYTES = Buffer.from([0xe0, 0]);

/** Total bytes of the packet at buf[start] (header + body), or 0 while its header is incomplete. */
export function packetLength(buf: Buffer, start: number, end: number): number {
  let n = 0;
  let mul = 1;
  for (let i = start + 1; i < Math.min(end, start + 5); i++) {
    n += (buf[i] & 0x7f) * mul;
    if ((buf[i] & 0x80) === 0) return i + 1 - start + n;
    mul *= 128;
  }
  if (end - start >= 5) throw new MqttProtocolError('malformed remaining length');
  return 0;
}

/** Offset of the body (after the fixed header) of the packet at buf[start]. */
/** Where the last readVarint stopped (module state: the swarm parses on a hot path, no tuples). */
let varintEnd = 0;

/** An MQTT Variable Byte Integer at p (here: a v5 property length); its end goes to varintEnd. */
function readVarint(buf: Buffer, p: number): number {
  let n = 0;
  let mul = 1;
  for (;;) {
    const b = buf[p++];
    n += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) break;
    mul *= 128;
  }
  varintEnd = p;
  return n;
}

function bodyStart(buf: Buffer, start: number): number {
  let i = start + 1;
  while ((buf[i] & 0x80) !== 0) i++;
  return i + 1;
}

export interface PublishView {
  qos: number;
  dup: boolean;
  packetId: number;
  topicStart: number;
  topicEnd: number;
  /** From the MQTT 5 user properties `offset` / `time`; NaN when absent. */
  offset: number;
  time: number;
  payloadStart: number;
  payloadEnd: number;
}

const decimal = (buf: Buffer, s: number, e: number): number => {
  let n = 0;
  for (let i = s; i < e; i++) {
    const c = buf[i];
    if (c < 48 || c > 57) return NaN;
    n = n * 10 + (c - 48);
  }
  return e > s ? n : NaN;
};

/** Reads the PUBLISH packet buf[start, end) into `out`. */
export function readPublish(version: 4 | 5, buf: Buffer, start: number, end: number, out: PublishView): void {
  const b0 = buf[start];
  out.qos = (b0 >> 1) & 3;
  out.dup = (b0 & 0x08) !== 0;
  let p = bodyStart(buf, start);
  const tl = buf.readUInt16BE(p);
  out.topicStart = p + 2;
  out.topicEnd = p + 2 + tl;
  p = out.topicEnd;
  out.packetId = 0;
  if (out.qos > 0) {
    out.packetId = buf.readUInt16BE(p);
    p += 2;
  }
  out.offset = NaN;
  out.time = NaN;
  if (version === 5) {
    const len = readVarint(buf, p);
    p = varintEnd;
    const propsEnd = p + len;
    while (p < propsEnd) {
      const id = buf[p++];
      if (id === 0x26) {
        const kl = buf.readUInt16BE(p);
        const ks = p + 2;
        const vl = buf.readUInt16BE(ks + kl);
        const vs = ks + kl + 2;
        if (kl === 6 && buf.toString('latin1', ks, ks + 6) === 'offset') out.offset = decimal(buf, vs, vs + vl);
        else if (kl === 4 && buf.toString('latin1', ks, ks + 4) === 'time') out.time = decimal(buf, vs, vs + vl);
        p = vs + vl;
      } else if (id === 0x01) p += 1;
      else if (id === 0x02) p += 4;
      else if (id === 0x23) p += 2;
      else if (id === 0x03 || id === 0x08 || id === 0x09) p += 2 + buf.readUInt16BE(p);
      else if (id === 0x0b) while ((buf[p++] & 0x80) !== 0);
      else throw new MqttProtocolError(`unexpected PUBLISH property 0x${id.toString(16)}`);
    }
    p = propsEnd;
  }
  out.payloadStart = p;
  out.payloadEnd = end;
}

/** CONNACK: session present, and the reason / return code. */
export function readConnack(buf: Buffer, start: number): { sessionPresent: boolean; code: number } {
  const p = bodyStart(buf, start);
  return { sessionPresent: (buf[p] & 1) === 1, code: buf[p + 1] };
}

/** SUBACK: the first granted code (0, 1: QoS granted; >= 0x80: refused). */
export function readSuback(version: 4 | 5, buf: Buffer, start: number, end: number): number {
  let p = bodyStart(buf, start) + 2;
  if (version === 5) {
    const len = readVarint(buf, p);
    p = varintEnd;
    p += len;
  }
  return p < end ? buf[p] : 0x80;
}
