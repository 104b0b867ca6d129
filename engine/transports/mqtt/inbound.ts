/**
 * Reading a packet before (or instead of) the parser: the CONNECT header check, and the fast path
 * for what a subscriber sends at the message rate.
 */
import type { Packet } from 'mqtt-packet';
import type { MqttConnection } from './connection.ts';
import { afterVarint } from './framer.ts';

const PINGREQ: Packet = { cmd: 'pingreq' };
/** Reused for every fast-path PUBACK: handlers read it synchronously and never keep it. */
const PUBACK: { cmd: 'puback'; messageId: number; reasonCode: number | undefined } = { cmd: 'puback', messageId: 0, reasonCode: undefined };

/**
 * The packets a subscriber sends at the message rate, read from their bytes with no parser,
 * no copy and no allocation (like the WebSocket ack fast path): PUBACK without properties
 * (2 bytes, or 3 with a 5.0 reason code [MQTT-3.4.2-1]) and PINGREQ. false: use the parser.
 */
export function fastPath(conn: MqttConnection, raw: Buffer): boolean {
  const first = raw[0];
  if (first === 0x40 && (raw[1] === 2 || (raw[1] === 3 && conn.version === 5)) && raw.length === raw[1] + 2) {
    const id = (raw[2] << 8) | raw[3];
    if (id === 0) return false; // the parser's error path says why
    PUBACK.messageId = id;
    PUBACK.reasonCode = raw[1] === 3 ? raw[4] : undefined;
    conn.sink(conn, PUBACK);
    return true;
  }
  if (first === 0xc0 && raw[1] === 0 && raw.length === 2) {
    conn.sink(conn, PINGREQ);
    return true;
  }
  return false;
}

/** The first packet must be CONNECT at protocol level 4 or 5; answer others as the spec says. */
export function checkConnectHeader(conn: MqttConnection, raw: Buffer): boolean {
  if (raw[0] >> 4 !== 1) {
    conn.fail('protocol_error', 'first packet is not CONNECT');
    return false;
  }
  const len = raw.length;
  const i = afterVarint(raw, 1);
  if (i + 2 > len) return true; // too short: the parser reports it malformed
  const nameLen = raw.readUInt16BE(i);
  const name = raw.toString('latin1', i + 2, i + 2 + nameLen);
  const level = raw[i + 2 + nameLen];
  if ((name === 'MQTT' || name === 'MQIsdp') && level !== 4 && level !== 5) {
    // 5.0 CONNACK 0x84 to a client that asked for something newer, 3.1.1 0x01 otherwise.
    conn.version = level !== undefined && level > 5 ? 5 : 4;
    conn.refuseConnect('unsupported_protocol_version', `protocol ${name} level ${level}`);
    return false;
  }
  return true;
}
