/**
 * MQTT 5 property rules that mqtt-packet 9 does not enforce, checked on the packet's own bytes.
 * Its parser cannot be asked afterwards: it decodes strings with replacement (ill-formed UTF-8
 * becomes U+FFFD), reads Byte properties as booleans (Request Problem Information 2 becomes
 * `true`) and folds a repeated property into an array, or keeps only the last one when the first
 * was falsy (Receive Maximum 0 twice). Only packets that arrived with properties are re-read
 * (MqttConnection.onPacket): every other packet pays one branch.
 */
import { isUtf8 } from 'node:buffer';
import type { Packet } from 'mqtt-packet';

export interface Violation {
  readonly reason: 'malformed_packet' | 'protocol_error';
  readonly detail: string;
}

const BYTE = 1;
const INT16 = 2;
const INT32 = 3;
const VARINT = 4;
const STRING = 5;
const BINARY = 6;
const PAIR = 7;

/** The property identifiers the engine reads or writes by name (MQTT 5.0 §2.2.2.2, Table 2-4). */
export const PROPERTY_ID = {
  payloadFormatIndicator: 0x01,
  messageExpiryInterval: 0x02,
  contentType: 0x03,
  responseTopic: 0x08,
  correlationData: 0x09,
  requestProblemInformation: 0x17,
  requestResponseInformation: 0x19,
  receiveMaximum: 0x21,
  userProperty: 0x26,
  maximumPacketSize: 0x27,
} as const;

/** Property identifier -> [data type, name] (MQTT 5.0 §2.2.2.2, Table 2-4). */
const PROPERTIES: Readonly<Record<number, readonly [number, string]>> = {
  [PROPERTY_ID.payloadFormatIndicator]: [BYTE, 'Payload Format Indicator'],
  [PROPERTY_ID.messageExpiryInterval]: [INT32, 'Message Expiry Interval'],
  [PROPERTY_ID.contentType]: [STRING, 'Content Type'],
  [PROPERTY_ID.responseTopic]: [STRING, 'Response Topic'],
  [PROPERTY_ID.correlationData]: [BINARY, 'Correlation Data'],
  0x0b: [VARINT, 'Subscription Identifier'],
  0x11: [INT32, 'Session Expiry Interval'],
  0x12: [STRING, 'Assigned Client Identifier'],
  0x13: [INT16, 'Server Keep Alive'],
  0x15: [STRING, 'Authentication Method'],
  0x16: [BINARY, 'Authentication Data'],
  [PROPERTY_ID.requestProblemInformation]: [BYTE, 'Request Problem Information'],
  0x18: [INT32, 'Will Delay Interval'],
  [PROPERTY_ID.requestResponseInformation]: [BYTE, 'Request Response Information'],
  0x1a: [STRING, 'Response Information'],
  0x1c: [STRING, 'Server Reference'],
  0x1f: [STRING, 'Reason String'],
  [PROPERTY_ID.receiveMaximum]: [INT16, 'Receive Maximum'],
  0x22: [INT16, 'Topic Alias Maximum'],
  0x23: [INT16, 'Topic Alias'],
  0x24: [BYTE, 'Maximum QoS'],
  0x25: [BYTE, 'Retain Available'],
  [PROPERTY_ID.userProperty]: [PAIR, 'User Property'],
  [PROPERTY_ID.maximumPacketSize]: [INT32, 'Maximum Packet Size'],
  0x28: [BYTE, 'Wildcard Subscription Available'],
  0x29: [BYTE, 'Subscription Identifier Available'],
  0x2a: [BYTE, 'Shared Subscription Available'],
};

/** CONNECT flags: Will Flag. */
const WILL_FLAG = 0x04;
/** Where each block's properties are specified (each says which of them may not repeat). */
const SECTION: Readonly<Record<string, string>> = {
  connect: '§3.1.2.11',
  will: '§3.1.3.2',
  publish: '§3.3.2.3',
  puback: '§3.4.2.2',
  pubrec: '§3.5.2.2',
  pubrel: '§3.6.2.2',
  pubcomp: '§3.7.2.2',
  subscribe: '§3.8.2.1',
  unsubscribe: '§3.10.2.1',
  disconnect: '§3.14.2.2',
  auth: '§3.15.2.2',
};

const malformed = (detail: string): Violation => ({ reason: 'malformed_packet', detail });
const protocolError = (detail: string): Violation => ({ reason: 'protocol_error', detail });

/** true when mqtt-packet found properties in the packet (CONNECT: its own or the will's). */
export function hasProperties(p: Packet): boolean {
  return (p as { properties?: object }).properties !== undefined || (p.cmd === 'connect' && p.will?.properties !== undefined);
}

/** The first property rule `raw` (one whole packet, as parsed into `p`) breaks, if any. */
export function propertyViolation(raw: Buffer, p: Packet): Violation | undefined {
  try {
    return locate(raw, p);
  } catch (err) {
    // A read past the end is a malformed packet, never an exception out of the socket's data handler.
    if (err instanceof RangeError) return malformed(`${p.cmd} is cut short`);
    throw err;
  }
}

function locate(raw: Buffer, p: Packet): Violation | undefined {
  let i = 1;
  while (raw[i] & 0x80) i++;
  i++; // past the remaining length: the variable header
  switch (p.cmd) {
    case 'connect':
      return connectViolation(raw, i);
    case 'publish':
      i += 2 + raw.readUInt16BE(i) + (p.qos > 0 ? 2 : 0); // topic name, packet identifier
      break;
    case 'subscribe':
    case 'unsubscribe':
      i += 2; // packet identifier
      break;
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      i += 3; // packet identifier, reason code
      break;
    case 'disconnect':
    case 'auth':
      i += 1; // reason code
      break;
    default:
      return undefined;
  }
  const r = scan(raw, i, p.cmd);
  return typeof r === 'number' ? undefined : r;
}

/** CONNECT: its properties, then (past the client id) the will properties. */
function connectViolation(raw: Buffer, at: number): Violation | undefined {
  let i = at + 2 + raw.readUInt16BE(at); // protocol name
  const flags = raw[i + 1]; // after the protocol level
  i += 4; // level, flags, keep alive
  const r = scan(raw, i, 'connect');
  if (typeof r !== 'number') return r;
  if ((flags & WILL_FLAG) === 0) return undefined;
  const w = scan(raw, r + 2 + raw.readUInt16BE(r), 'will'); // past the client id
  return typeof w === 'number' ? undefined : w;
}

/**
 * Reads one property block at `at` (Property Length, then properties); returns the index after
 * it, or the first violation. mqtt-packet has already read the block, so only rules it does not
 * check are repeated here, plus bounds (it reads a value across the end of the block unchecked).
 */
function scan(raw: Buffer, at: number, where: string): number | Violation {
  let i = at;
  let length = 0;
  for (let shift = 1; ; shift *= 128) {
    if (i >= raw.length || shift > 128 ** 3) return malformed(`${where} property length`);
    const b = raw[i++];
    length += (b & 0x7f) * shift;
    if ((b & 0x80) === 0) break;
  }
  const end = i + length;
  if (end > raw.length) return malformed(`${where} properties overrun the packet`);
  let seenLow = 0; // identifiers 0x00-0x1f
  let seenHigh = 0; // identifiers 0x20-0x3f
  while (i < end) {
    const id = raw[i++]; // a Variable Byte Integer, but every defined identifier fits one byte
    const spec = PROPERTIES[id];
    if (spec === undefined) return malformed(`${where}: unknown property 0x${id.toString(16)} [§2.2.2.2]`);
    const [type, name] = spec;
    if (id !== PROPERTY_ID.userProperty) {
      // Each property's own section: "It is a Protocol Error to include the <property> more than
      // once" (User Property is the one that may repeat; Subscription Identifier repeats only in
      // a server's PUBLISH).
      const bit = 1 << (id & 0x1f);
      const seen = id < 0x20 ? seenLow : seenHigh;
      if ((seen & bit) !== 0) return protocolError(`${where}: ${name} more than once [${SECTION[where]}]`);
      if (id < 0x20) seenLow |= bit;
      else seenHigh |= bit;
    }
    const next = valueEnd(raw, i, type);
    if (next > end) return malformed(`${where}: ${name} overruns the properties`);
    const bad = type === STRING ? badString(raw, i) : type === PAIR ? (badString(raw, i) ?? badString(raw, i + 2 + raw.readUInt16BE(i))) : valueRule(raw, i, id);
    if (bad !== undefined) return { reason: bad.reason, detail: `${where}: ${name} ${bad.detail}` };
    i = next;
  }
  return end;
}

/** Index after a value of `type` at `i` (past raw.length when it is cut short). */
function valueEnd(raw: Buffer, i: number, type: number): number {
  switch (type) {
    case BYTE:
      return i + 1;
    case INT16:
      return i + 2;
    case INT32:
      return i + 4;
    case VARINT:
      for (let k = i; k < i + 4 && k < raw.length; k++) if ((raw[k] & 0x80) === 0) return k + 1;
      return raw.length + 1; // a fifth byte, or cut short
    case PAIR: {
      if (i + 2 > raw.length) return raw.length + 1;
      const second = i + 2 + raw.readUInt16BE(i);
      return second + 2 > raw.length ? raw.length + 1 : second + 2 + raw.readUInt16BE(second);
    }
    default: // STRING, BINARY: two-byte length, then the bytes
      return i + 2 > raw.length ? raw.length + 1 : i + 2 + raw.readUInt16BE(i);
  }
}

/** A UTF-8 Encoded String (length-prefixed at `i`, bounds already checked). */
function badString(raw: Buffer, i: number): Violation | undefined {
  const bytes = raw.subarray(i + 2, i + 2 + raw.readUInt16BE(i));
  // [MQTT-1.5.4-1] ill-formed UTF-8 (surrogates, overlongs, truncated sequences) is a Malformed
  // Packet; a UTF-8 String Pair is two such strings [MQTT-1.5.7-1]. mqtt-packet would have
  // handed us U+FFFD instead.
  if (!isUtf8(bytes)) return malformed('is not well-formed UTF-8 [MQTT-1.5.4-1]');
  // [MQTT-1.5.4-2] U+0000 is not allowed either: Malformed Packet.
  if (bytes.includes(0)) return malformed('contains U+0000 [MQTT-1.5.4-2]');
  return undefined;
}

/** Value rules of the properties a client sends in CONNECT (MQTT 5.0 §3.1.2.11). */
function valueRule(raw: Buffer, i: number, id: number): Violation | undefined {
  switch (id) {
    case PROPERTY_ID.receiveMaximum: // §3.1.2.11.3 "It is a Protocol Error to include the Receive Maximum value ... [with] the value 0"
      return raw.readUInt16BE(i) === 0 ? protocolError('0 [§3.1.2.11.3]') : undefined;
    case PROPERTY_ID.maximumPacketSize: // §3.1.2.11.4 "... or for the value to be set to zero"
      return raw.readUInt32BE(i) === 0 ? protocolError('0 [§3.1.2.11.4]') : undefined;
    case PROPERTY_ID.requestResponseInformation: // §3.1.2.11.6 "... or to have a value other than 0 or 1"
      return raw[i] > 1 ? protocolError(`${raw[i]}, not 0 or 1 [§3.1.2.11.6]`) : undefined;
    case PROPERTY_ID.requestProblemInformation: // §3.1.2.11.7 "... or to have a value other than 0 or 1"
      return raw[i] > 1 ? protocolError(`${raw[i]}, not 0 or 1 [§3.1.2.11.7]`) : undefined;
    default:
      return undefined;
  }
}
