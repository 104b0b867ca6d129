/**
 * TEST HELPERS ONLY: what the engine must make of an MQTT byte stream, worked out on the client
 * side from the README's MQTT section and mqtt-packet's own parser (the codec the README names),
 * never from engine code. The stream is cut into packets by Remaining Length like any MQTT
 * receiver; each complete packet is parsed in turn.
 *
 * The engine checks more than this (5.0 property rules, topics, payload formats...), so where the
 * reference sees nothing wrong the engine may still refuse, but only with a counted reason code.
 * Where the reference says the stream is broken, the engine must close.
 */
import { parser as createParser, type Packet } from 'mqtt-packet';

export interface Reference {
  /** Complete packets the engine acts on, in order (up to a closing one, a DISCONNECT, or the end). */
  readonly packets: readonly Packet[];
  /** Why the engine must close the connection; undefined when nothing in the stream requires it. */
  readonly mustClose: string | undefined;
  /** The stream ends in the middle of a packet (the engine waits for the rest). */
  readonly partial: boolean;
  /** A DISCONNECT of ours is among `packets`: the engine closes without counting anything. */
  readonly clientDisconnects: boolean;
  /** The protocol version the engine answers in (5.0 for level 5, and for levels above 5: CONNACK 0x84). */
  readonly serverVersion: 4 | 5;
}

/** Packets a client may send after CONNECT (README: a second CONNECT, AUTH... close). */
const CLIENT_PACKETS = new Set(['publish', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'subscribe', 'unsubscribe', 'pingreq', 'disconnect']);

/**
 * `maxPacket`: the engine's Maximum Packet Size (--max-payload-bytes + 4 KiB, README); a larger
 * packet is refused from its header (DISCONNECT 0x95) before its body arrives.
 */
export function referenceParse(stream: Buffer, maxPacket: number): Reference {
  const packets: Packet[] = [];
  const head = firstConnect(stream, maxPacket);
  const out = (mustClose: string | undefined, partial = false): Reference => ({
    packets,
    mustClose,
    partial,
    clientDisconnects: packets.some((p) => p.cmd === 'disconnect'),
    // 5.0 once a 5.0 CONNECT parsed; a level above 5 is refused in 5.0 (0x84), anything else in 3.1.1.
    serverVersion: (packets[0]?.cmd === 'connect' && packets[0].protocolVersion === 5) || (head?.named === true && (head.level ?? 0) > 5) ? 5 : 4,
  });
  if (stream.length === 0) return out(undefined);
  // README: "first packet not CONNECT, not MQTT at all: closed" (decided on the first byte).
  if (stream[0] !== 0x10) return out('first byte is not CONNECT');
  if (head?.named === true && head.level !== 4 && head.level !== 5) return out(`protocol level ${head.level}: CONNACK 0x01 / 0x84 and close`);
  const parser = createParser();
  let error: string | undefined;
  parser.on('packet', (p: Packet) => packets.push(p));
  parser.on('error', (e: Error) => (error ??= e.message));
  for (let at = 0; at < stream.length; ) {
    const header = fixedHeader(stream, at);
    if (header === 'partial') return out(undefined, true);
    if (header === 'malformed') return out('five-byte Remaining Length');
    if (header > maxPacket) return out(`packet of ${header} bytes over the Maximum Packet Size`);
    if (at + header > stream.length) return out(undefined, true);
    const before = packets.length;
    parser.parse(stream.subarray(at, at + header));
    at += header;
    if (error !== undefined) return out(`malformed: ${error}`);
    if (packets.length !== before + 1) return out('packet did not parse as one packet');
    const p = packets[packets.length - 1];
    const violation = protocolViolation(p, packets.length === 1);
    if (violation !== undefined) return out(violation);
    if (p.cmd === 'disconnect') return out(undefined);
  }
  return out(undefined);
}

function protocolViolation(p: Packet, first: boolean): string | undefined {
  if (first) return p.cmd === 'connect' ? undefined : `first packet is ${p.cmd}`;
  if (!CLIENT_PACKETS.has(p.cmd)) return `${p.cmd} from a client`;
  if (p.cmd === 'subscribe' && p.subscriptions.length === 0) return 'SUBSCRIBE without filters';
  return undefined;
}

/** The whole packet's size from the fixed header at `at`. */
function fixedHeader(b: Buffer, at: number): number | 'partial' | 'malformed' {
  let remaining = 0;
  let mul = 1;
  for (let i = 1; i <= 4; i++) {
    if (at + i >= b.length) return 'partial';
    const byte = b[at + i];
    remaining += (byte & 0x7f) * mul;
    if ((byte & 0x80) === 0) return 1 + i + remaining;
    mul *= 128;
  }
  return 'malformed';
}

/**
 * Name and level of the first packet once it is complete, read as any receiver reads a CONNECT
 * header (and only within that packet: a short CONNECT has no level, which is not 4 or 5 either).
 */
function firstConnect(b: Buffer, maxPacket: number): { readonly named: boolean; readonly level: number | undefined } | undefined {
  const size = fixedHeader(b, 0);
  if (typeof size !== 'number' || size > maxPacket || size > b.length || b[0] >> 4 !== 1) return undefined;
  const raw = b.subarray(0, size);
  let i = 1;
  while (i < raw.length && raw[i] & 0x80) i++;
  i++;
  if (i + 2 > raw.length) return { named: false, level: undefined };
  const nameLength = raw.readUInt16BE(i);
  const name = raw.toString('latin1', i + 2, i + 2 + nameLength);
  return { named: name === 'MQTT' || name === 'MQIsdp', level: raw[i + 2 + nameLength] };
}

export interface Candidate {
  readonly area: string;
  readonly payload: Buffer;
  readonly qos: number;
  readonly messageId: number | undefined;
  /** RETAIN=1 with an empty payload only clears the retained message: acknowledged, nothing appended (README). */
  readonly clearsRetained: boolean;
}

/**
 * What the stream may have published: each PUBLISH (and the will) to `areas/{area}`. The engine
 * may refuse any of them; it may store nothing else.
 */
export function candidates(ref: Reference): Candidate[] {
  const out: Candidate[] = [];
  for (const p of ref.packets) {
    if (p.cmd === 'publish') add(out, p.topic, p.payload, p.qos, p.messageId, p.retain);
    if (p.cmd === 'connect' && p.will !== undefined) add(out, p.will.topic, p.will.payload, 0, undefined, p.will.retain === true);
  }
  return out;
}

function add(out: Candidate[], topic: string, payload: string | Buffer, qos: number, messageId: number | undefined, retain: boolean): void {
  if (!topic.startsWith('areas/')) return;
  const bytes = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  out.push({ area: topic.slice('areas/'.length), payload: bytes, qos, messageId, clearsRetained: retain && bytes.length === 0 });
}
