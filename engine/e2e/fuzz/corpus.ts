/**
 * Inputs that once broke something, replayed on every run by the fuzz suite of their target
 * (ws.test.ts, mqtt.test.ts, rest.test.ts) through the same runner and checks as generated cases,
 * plus the exact answer each must get. Each says what it broke and what fixed it.
 *
 * Adding one: the fuzz failure message prints the bytes (hex); put them here with the answer the
 * README requires. An entry the engine still gets wrong carries `known` ("KNOWN: <bug>"): it stays
 * here, but is left out of the asserted set until the lead fixes it and removes `known`.
 */
import { generate } from 'mqtt-packet';
import { wire } from '../mqtt-support.ts';
import type { WsProtocol } from './ws-target.ts';

interface Base {
  readonly id: string;
  /** What this input broke. */
  readonly broke: string;
  /** What fixed it. */
  readonly fixedBy: string;
  /** "KNOWN: <bug>": still broken; not asserted until fixed. */
  readonly known?: string;
}

export interface WsEntry extends Base {
  readonly target: 'ws';
  readonly protocol: WsProtocol;
  readonly frames: readonly { readonly hex: string; readonly binary: boolean }[];
  /** Close code the client sees; `counted`: the registry reason a 1006 must be counted under. */
  readonly expect: { readonly close: number; readonly counted?: 'message_too_big' | 'invalid_utf8' };
}

export interface MqttEntry extends Base {
  readonly target: 'mqtt';
  readonly version: 4 | 5;
  readonly hex: string;
  /** Sent once the CONNACK has come (a client that waits for it). */
  readonly then?: string;
  /** The answer: a CONNACK / DISCONNECT / PUBACK reason code, or a bare close (3.1.1). */
  readonly expect: { readonly connack?: number; readonly disconnect?: number; readonly puback?: number; readonly closed: boolean };
}

export interface RestEntry extends Base {
  readonly target: 'rest';
  /** The request exactly as sent (latin1 for the text, `\x..` for other bytes). */
  readonly request: string;
  /** Status, and the registry code of the JSON body (none for HEAD). */
  readonly expect: { readonly status: number; readonly code?: string; readonly head?: boolean };
}

export type CorpusEntry = WsEntry | MqttEntry | RestEntry;

// ---------------------------------------------------------------------------------------------
// Builders (so the bytes below read as what they are)
// ---------------------------------------------------------------------------------------------

const { u16, str, props, packet } = wire;
/** A 5.0 CONNECT, clean start, no credentials (the fuzz engines run without auth), with these property bytes. */
const connect5 = (clientId: string, p: number[] = []): Buffer => packet(0x10, str('MQTT'), Buffer.from([5, 0x02, 0, 30]), props(p), str(clientId));
const connect4 = (clientId: string): Buffer => Buffer.from(generate({ cmd: 'connect', protocolVersion: 4, clientId, clean: true, keepalive: 30 }));
const TOPIC = str('areas/fz:corpus');
/** PUBLISH with the given first byte (type + flags), packet id (QoS 1) and 5.0 property bytes, payload {}. */
const publish = (first: number, id: number | undefined, p: number[] | undefined, payload = Buffer.from('{}')): Buffer =>
  packet(first, TOPIC, ...(id === undefined ? [] : [u16(id)]), ...(p === undefined ? [] : [props(p)]), payload);
const userProperty = (name: number[], value: number[]): number[] => [0x26, 0, name.length, ...name, 0, value.length, ...value];
const hexOf = (...parts: Buffer[]): string => Buffer.concat(parts).toString('hex');

const ITEM3 = 'issue 13 item 3 (uWS refusals counted and logged under a registry reason: transports/shared/uws-close.ts)';
const ITEM4 = 'issue 13 item 4 (payloads validated against their declared format: transports/shared/payload.ts)';
const ITEM6 = 'issue 13 item 6 (HTTP edges: transports/http/framing.ts, transports/shared/ws-upgrade.ts)';
const MQTT5 = 'issue 13 (MQTT 5 rules mqtt-packet 9 does not enforce: transports/mqtt/properties.ts, handlers/publish.ts)';

// ---------------------------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------------------------

export const CORPUS: readonly CorpusEntry[] = [
  // WebSocket /v1/ws
  {
    id: 'ws: frame over 4x --max-client-frame-bytes',
    target: 'ws',
    protocol: 'v1.json',
    frames: [{ hex: Buffer.from(JSON.stringify({ type: 'ping', pad: 'x'.repeat(5000) })).toString('hex'), binary: false }],
    expect: { close: 1006, counted: 'message_too_big' },
    broke: 'uWS dropped the socket itself: 1006 with nothing counted or logged, indistinguishable from a network drop',
    fixedBy: ITEM3,
  },
  {
    id: 'ws: text frame with invalid UTF-8',
    target: 'ws',
    protocol: 'v1.json',
    frames: [{ hex: '7b22fffe227d', binary: false }],
    expect: { close: 1006, counted: 'invalid_utf8' },
    broke: 'uWS dropped the socket itself (RFC 6455 §8.1): 1006, nothing counted or logged',
    fixedBy: ITEM3,
  },

  // MQTT
  {
    id: 'mqtt 5: PUBLISH QoS 1 msgpack C1 with Content Type application/msgpack',
    target: 'mqtt',
    version: 5,
    hex: hexOf(connect5('corpus-c1'), publish(0x32, 1, [0x03, ...str('application/msgpack')], Buffer.from([0xc1]))),
    expect: { puback: 0x99, closed: false },
    broke: 'stored C1 and delivered it as {"name":"MessagePack 0xC1"}',
    fixedBy: ITEM4,
  },
  ...(['v5', 'v4'] as const).flatMap((v): MqttEntry[] => {
    const version = v === 'v5' ? 5 : 4;
    const c = (id: string): Buffer => (version === 5 ? connect5(`${id}-${v}`) : connect4(`${id}-${v}`));
    const p = version === 5 ? [] : undefined;
    const closing = version === 5 ? { disconnect: 0x82, closed: true } : { closed: true };
    const entry = (what: string, id: string, packet: Buffer, rule: string): MqttEntry => ({
      id: `mqtt ${v}: ${what}`,
      target: 'mqtt',
      version,
      hex: hexOf(c(id), packet),
      expect: closing,
      broke: `accepted like a valid PUBLISH (mqtt-packet parses it) ${rule}`,
      fixedBy: MQTT5,
    });
    return [
      entry('PUBLISH QoS 1 with Packet Identifier 0', 'corpus-id0', publish(0x32, 0, p), '[MQTT-2.2.1-3]'),
      entry('DUP=1 on QoS 0', 'corpus-dup', publish(0x38, undefined, p), '[MQTT-3.3.1-2]'),
    ];
  }),
  ...(
    [
      ['duplicated CONNECT property (Session Expiry Interval twice)', [0x11, 0, 0, 0, 9, 0x11, 0, 0, 0, 9], 0x82],
      ['Receive Maximum 0', [0x21, 0, 0], 0x82],
      ['Maximum Packet Size 0', [0x27, 0, 0, 0, 0], 0x82],
      ['Request Problem Information 2', [0x17, 2], 0x82],
      ['invalid UTF-8 (a surrogate) in a CONNECT User Property', userProperty([0x6b], [0xed, 0xa0, 0x80]), 0x81],
    ] as const
  ).map(
    ([what, p, code], i): MqttEntry => ({
      id: `mqtt 5: ${what}`,
      target: 'mqtt',
      version: 5,
      hex: hexOf(connect5(`corpus-connect-${i}`, [...p])),
      expect: { connack: code, closed: true },
      broke: 'CONNECT accepted (mqtt-packet 9 folds, coerces or replaces what it should refuse)',
      fixedBy: MQTT5,
    }),
  ),
  {
    id: 'mqtt 5: invalid UTF-8 in a PUBLISH User Property (after CONNACK)',
    target: 'mqtt',
    version: 5,
    hex: hexOf(connect5('corpus-pub-utf8')),
    then: hexOf(publish(0x30, undefined, userProperty([0x6b], [0xc3, 0x28]))),
    expect: { disconnect: 0x81, closed: true },
    broke: 'accepted; the property reached subscribers with U+FFFD',
    fixedBy: MQTT5,
  },
  {
    // Found by this fuzz suite (mqtt.test.ts): the same PUBLISH sent right behind the CONNECT.
    id: 'mqtt 5: invalid UTF-8 in a PUBLISH User Property, sent before the CONNACK',
    target: 'mqtt',
    version: 5,
    hex: hexOf(connect5('corpus-pub-utf8-pipelined'), publish(0x30, undefined, userProperty([0x6b], [0xc3, 0x28]))),
    expect: { connack: 0x00, disconnect: 0x81, closed: true },
    broke: 'the connection is closed with neither CONNACK nor DISCONNECT: the 5.0 client never learns the reason code',
    fixedBy: 'issue 13: MqttConnection.deferredFailure (a refusal before the CONNACK is applied right after it)',
  },
  {
    // Found by this fuzz suite (mqtt.test.ts, seed 13): any malformed packet right behind the CONNECT.
    id: 'mqtt 5: a malformed PUBLISH (topic overruns the packet) sent before the CONNACK',
    target: 'mqtt',
    version: 5,
    hex: hexOf(connect5('corpus-malformed-pipelined'), Buffer.from([0x30, 0x03, 0x00, 0x10, 0x41])),
    expect: { connack: 0x00, disconnect: 0x81, closed: true },
    broke: 'closed with neither CONNACK nor DISCONNECT 0x81 (the same PUBLISH after the CONNACK gets DISCONNECT 0x81)',
    fixedBy: 'issue 13: MqttConnection.deferredFailure (a refusal before the CONNACK is applied right after it)',
  },
  {
    id: 'mqtt 5: Subscription Identifier in a client PUBLISH',
    target: 'mqtt',
    version: 5,
    hex: hexOf(connect5('corpus-subid'), publish(0x30, undefined, [0x0b, 5])),
    expect: { disconnect: 0x82, closed: true },
    broke: 'accepted like a valid PUBLISH (mqtt-packet parses it) [MQTT-3.3.4-6]',
    fixedBy: MQTT5,
  },

  // REST / HTTP
  ...(
    [
      ['msgpack body C1', 'application/msgpack', '\xc1'],
      ['JSON body 22 FF FE 22', 'application/json', '"\xff\xfe"'],
    ] as const
  ).map(
    ([what, type, body]): RestEntry => ({
      id: `rest: ${what}`,
      target: 'rest',
      request: `POST /v1/areas/fz:corpus/messages HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      expect: { status: 400, code: 'bad_request' },
      broke: 'stored, then delivered as something else ({"name":"MessagePack 0xC1"}, "\\ufffd\\ufffd")',
      fixedBy: ITEM4,
    }),
  ),
  {
    id: 'rest: HEAD /healthz',
    target: 'rest',
    request: 'HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
    expect: { status: 200, head: true },
    broke: 'not answered like GET without a body (RFC 9110 §9.3.2); uWS endWithoutBody(length) left the response pending',
    fixedBy: ITEM6,
  },
  {
    id: 'rest: Sec-WebSocket-Version 8 upgrade',
    target: 'rest',
    request: 'GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n',
    expect: { status: 426, code: 'upgrade_required' },
    broke: 'not refused with 426 and Sec-WebSocket-Version: 13 (RFC 6455 §4.2.2)',
    fixedBy: ITEM6,
  },
  ...(
    [
      ['-1', 400, 'bad_request'],
      ['1000000000000', 413, 'payload_too_large'],
    ] as const
  ).map(
    ([cl, status, code]): RestEntry => ({
      id: `rest: Content-Length ${cl}`,
      target: 'rest',
      request: `POST /v1/areas/fz:corpus/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${cl}\r\n\r\n`,
      expect: { status, code },
      broke: 'uWS closed the socket with a bare FIN, no answer',
      fixedBy: ITEM6,
    }),
  ),
  {
    id: 'rest: ~1000 headers',
    target: 'rest',
    request: `GET /healthz HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 1000 }, (_, i) => `X-H${i}: v\r\n`).join('')}\r\n`,
    expect: { status: 431 },
    broke: 'uWS closed the socket with no answer',
    fixedBy: 'not yet',
    known: 'KNOWN: uWS 20.30 native parser closes at once without an answer; no engine code runs (known.ts KNOWN_BUGS.uwsNativeParserRefusals)',
  },
  {
    id: 'rest: a garbage request line',
    target: 'rest',
    request: 'GARBAGE\r\n\r\n',
    expect: { status: 400 },
    broke: 'no answer; the socket is held until the 10 s idle timeout',
    fixedBy: 'not yet',
    known: 'KNOWN: uWS 20.30 native parser sends nothing and keeps the socket until its idle timeout (known.ts KNOWN_BUGS.uwsNativeParserRefusals)',
  },
  {
    // Found by this fuzz suite (rest.test.ts, seed 13): a method mutated to lower case.
    id: 'rest: a lower-case method (get /healthz)',
    target: 'rest',
    request: 'get /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
    expect: { status: 400, code: 'bad_request' },
    broke: 'closed at once with no answer (any method but the nine of RFC 9110, in upper case)',
    fixedBy: 'not yet',
    known: 'KNOWN: uWS 20.30 native parser closes without an answer (known.ts KNOWN_BUGS.uwsNativeParserRefusals)',
  },
  {
    // Found by this fuzz suite (rest.test.ts, seed 13): a header value mutated to contain NUL.
    id: 'rest: a NUL in a header value',
    target: 'rest',
    request: 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Fuzz: a\x00b\r\n\r\n',
    expect: { status: 400, code: 'bad_request' },
    broke: 'no answer; the socket is held until the 10 s idle timeout',
    fixedBy: 'not yet',
    known: 'KNOWN: uWS 20.30 native parser sends nothing and keeps the socket (known.ts KNOWN_BUGS.uwsNativeParserRefusals)',
  },
];

/** The entries of one target that are asserted (not KNOWN). */
export function corpusFor<T extends CorpusEntry['target']>(target: T): Extract<CorpusEntry, { target: T }>[] {
  return CORPUS.filter((e): e is Extract<CorpusEntry, { target: T }> => e.target === target && e.known === undefined);
}
