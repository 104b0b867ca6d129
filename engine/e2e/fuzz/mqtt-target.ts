/**
 * TEST HELPERS ONLY: the MQTT fuzz target's inputs. A case is one connection's byte stream:
 * a valid CONNECT then SUBSCRIBE / PUBLISH / PUBACK / UNSUBSCRIBE / PINGREQ / DISCONNECT packets
 * for 3.1.1 or 5.0, each encoded by mqtt-packet's `generate` (not by engine code), then mutated:
 * bytes of one packet (mutate.ts), its Remaining Length re-encoded with another value, or the whole
 * stream; and cut into several TCP writes or WebSocket frames (/mqtt carries a byte stream).
 */
import fc from 'fast-check';
import { pack } from 'msgpackr';
import { generate, type Packet } from 'mqtt-packet';
import { wire } from '../mqtt-support.ts';
import { FUZZ_MAX_PAYLOAD } from './env.ts';
import { applyMutations, hex, mutationsArb, printable, rarely, type Mutation } from './mutate.ts';

export interface MqttCase {
  readonly version: 4 | 5;
  readonly transport: 'tcp' | 'ws';
  /** The bytes sent, in order. */
  readonly stream: Buffer;
  /** Sent once the CONNACK has come (a client that waits for it); the reference reads stream + then. */
  readonly then?: Buffer;
  /** Cut points: the stream goes out as this many + 1 writes (TCP) or binary frames (WebSocket). */
  readonly cuts: readonly number[];
}

/** Areas fuzz publishes may land in (mutations can make others, the checks cover any area). */
const MQTT_AREAS = ['fz:m-a', 'fz:m-b', 'fz:m-c'] as const;

const goodTopic = fc.constantFrom(...MQTT_AREAS.map((a) => `areas/${a}`));
const badTopic = fc.constantFrom('areas/+', 'areas/#', '#', '$share/g/areas/fz:m-a', 'other/x', 'areas/', 'areas/a/b', 'areas/-bad', 'areas/ü');
const topicArb = fc.oneof({ weight: 5, arbitrary: goodTopic }, { weight: 1, arbitrary: badTopic });

const payloadArb: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => Buffer.from(pack(v))) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 48 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.constantFrom(Buffer.alloc(0), Buffer.from([0xc1]), Buffer.from('22fffe22', 'hex'), Buffer.alloc(FUZZ_MAX_PAYLOAD + 10, 0x41)) },
);

const userPropsArb = fc.dictionary(fc.constantFrom('k', 'offset', 'é', 'tag'), fc.oneof(fc.string({ maxLength: 6 }), fc.array(fc.string({ maxLength: 4 }), { maxLength: 2 })), { maxKeys: 2 });

function publishArb(version: 4 | 5, id: number): fc.Arbitrary<Packet> {
  const props = fc.record(
    {
      contentType: fc.constantFrom('application/json', 'application/msgpack', 'application/octet-stream', 'text/plain', 'application/json; charset=utf-8'),
      payloadFormatIndicator: fc.boolean(),
      messageExpiryInterval: fc.nat(3600),
      userProperties: userPropsArb,
      correlationData: fc.uint8Array({ maxLength: 4 }).map((b) => Buffer.from(b)),
      responseTopic: goodTopic,
    },
    { requiredKeys: [] },
  );
  return fc.record({ topic: topicArb, payload: payloadArb, qos: fc.constantFrom(0, 1, 1, 2), retain: fc.nat(7).map((n) => n === 0), properties: props }).map(
    ({ topic, payload, qos, retain, properties }): Packet => ({
      cmd: 'publish',
      topic,
      payload,
      qos: qos as 0 | 1 | 2,
      dup: false,
      retain,
      ...(qos > 0 && { messageId: id }),
      ...(version === 5 && { properties }),
    }),
  );
}

function subscribeArb(version: 4 | 5, id: number): fc.Arbitrary<Packet> {
  const sub = fc.record({ topic: topicArb, qos: fc.constantFrom(0, 1, 1, 2), rh: fc.constantFrom(0, 1, 2) });
  return fc.array(sub, { minLength: 1, maxLength: 3 }).map(
    (subscriptions): Packet => ({
      cmd: 'subscribe',
      messageId: id,
      subscriptions: subscriptions.map((s) => ({ topic: s.topic, qos: s.qos as 0 | 1 | 2, ...(version === 5 && { rh: s.rh }) })),
    }),
  );
}

function packetArb(version: 4 | 5, id: number): fc.Arbitrary<Packet> {
  return fc.oneof(
    { weight: 4, arbitrary: publishArb(version, id) },
    { weight: 2, arbitrary: subscribeArb(version, id) },
    { weight: 1, arbitrary: fc.constant<Packet>({ cmd: 'puback', messageId: id }) },
    // A PUBREL for an earlier QoS 2 PUBLISH (ids are packet indexes) or for none at all.
    { weight: 1, arbitrary: fc.nat(id).map((rid): Packet => ({ cmd: 'pubrel', messageId: Math.max(1, rid) })) },
    { weight: 1, arbitrary: fc.array(topicArb, { minLength: 1, maxLength: 2 }).map((unsubscriptions): Packet => ({ cmd: 'unsubscribe', messageId: id, unsubscriptions })) },
    { weight: 1, arbitrary: fc.constant<Packet>({ cmd: 'pingreq' }) },
  );
}

function connectArb(version: 4 | 5, clientId: string): fc.Arbitrary<Packet> {
  const props = fc.record(
    {
      sessionExpiryInterval: fc.nat(600),
      receiveMaximum: fc.integer({ min: 1, max: 100 }),
      maximumPacketSize: fc.integer({ min: 64, max: 1 << 20 }),
      topicAliasMaximum: fc.nat(10),
      requestProblemInformation: fc.boolean(),
      userProperties: userPropsArb,
    },
    { requiredKeys: [] },
  );
  const will = fc.record({ topic: topicArb, payload: payloadArb, qos: fc.constantFrom(0, 1, 2), retain: fc.boolean() });
  return fc.record({ clean: fc.boolean(), keepalive: fc.constantFrom(0, 5, 30, 600, 65535), properties: props, will: rarely(will, 5) }).map(
    ({ clean, keepalive, properties, will: w }): Packet => ({
      cmd: 'connect',
      protocolVersion: version,
      protocolId: 'MQTT',
      clientId,
      clean,
      keepalive,
      ...(w !== null && { will: { topic: w.topic, payload: w.payload, qos: w.qos as 0 | 1 | 2, retain: w.retain } }),
      ...(version === 5 && { properties }),
    }),
  );
}

/** A Remaining Length replaced: a delta on the real one, or a value of its own (length-field corruption). */
export type LengthCorruption = { readonly packet: number; readonly delta: number } | { readonly packet: number; readonly raw: readonly number[] };

const lengthArb: fc.Arbitrary<LengthCorruption> = fc.oneof(
  fc.record({ packet: fc.nat(), delta: fc.integer({ min: -4, max: 4 }) }),
  // 0, 127/128 boundary, 2^14, the largest, and a five-byte one [MQTT-1.5.5].
  fc.record({ packet: fc.nat(), raw: fc.constantFrom([0x00], [0x7f], [0x80, 0x01], [0x80, 0x80, 0x01], [0xff, 0xff, 0xff, 0x7f], [0x80, 0x80, 0x80, 0x80, 0x01], [0x80]) }),
);

interface MqttRecipe {
  readonly version: 4 | 5;
  readonly transport: 'tcp' | 'ws';
  readonly packets: Packet[];
  readonly disconnect: boolean;
  readonly connectMutations: Mutation[];
  /** Mutations of the packets after the CONNECT (`packet` taken modulo their number). */
  readonly packetMutations: { packet: number; mutations: Mutation[] }[];
  readonly length: LengthCorruption | null;
  readonly streamMutations: Mutation[];
  readonly cuts: number[];
}

/** MQTT cases: one connection's byte stream each. */
export function mqttCaseArb(): fc.Arbitrary<MqttCase> {
  return fc
    // Unbiased: small ids would repeat, and a repeated client id resumes or takes over a session.
    .tuple(fc.constantFrom<4 | 5>(4, 5), fc.noBias(fc.nat()))
    .chain(([version, n]) =>
      fc.record({
        version: fc.constant(version),
        transport: fc.constantFrom<'tcp' | 'ws'>('tcp', 'tcp', 'ws'),
        packets: fc
          .tuple(connectArb(version, `fz-${version}-${n}`), fc.array(fc.nat(), { minLength: 1, maxLength: 5 }))
          .chain(([connect, ids]) => fc.tuple(...ids.map((_, i) => packetArb(version, i + 1))).map((rest) => [connect, ...rest])),
        disconnect: fc.nat(4).map((k) => k === 0),
        // The CONNECT rarely: a broken one ends the case before the packets after it are read.
        connectMutations: fc.oneof({ weight: 5, arbitrary: fc.constant<Mutation[]>([]) }, { weight: 1, arbitrary: mutationsArb(2) }),
        packetMutations: fc.oneof(
          { weight: 1, arbitrary: fc.constant<MqttRecipe['packetMutations']>([]) },
          { weight: 2, arbitrary: fc.array(fc.record({ packet: fc.nat(), mutations: mutationsArb(2) }), { minLength: 1, maxLength: 2 }) },
        ),
        length: rarely(lengthArb, 4),
        streamMutations: fc.oneof({ weight: 7, arbitrary: fc.constant<Mutation[]>([]) }, { weight: 1, arbitrary: mutationsArb(2) }),
        cuts: fc.oneof({ weight: 2, arbitrary: fc.constant<number[]>([]) }, { weight: 1, arbitrary: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }) }),
      }),
    )
    .map(buildCase);
}

function buildCase(r: MqttRecipe): MqttCase {
  const packets = [...r.packets, ...(r.disconnect ? [{ cmd: 'disconnect', reasonCode: 0 } as Packet] : [])];
  const encoded: Buffer[] = packets.map((p) => Buffer.from(generate(p, { protocolVersion: r.version })));
  encoded[0] = applyMutations(encoded[0], r.connectMutations);
  for (const pm of encoded.length > 1 ? r.packetMutations : []) {
    const i = 1 + (pm.packet % (encoded.length - 1));
    encoded[i] = applyMutations(encoded[i], pm.mutations);
  }
  if (r.length !== null) {
    const i = r.length.packet % encoded.length;
    encoded[i] = corruptLength(encoded[i], r.length);
  }
  const stream = applyMutations(Buffer.concat(encoded), r.streamMutations);
  return printable({ version: r.version, transport: r.transport, stream, cuts: r.cuts }, () => `MqttCase(${r.version}, ${r.transport}, stream hex ${hex(stream)}, cuts ${JSON.stringify(r.cuts)})`);
}

/** The packet with its Remaining Length field replaced (the body is kept as it was). */
export function corruptLength(packet: Buffer, c: LengthCorruption): Buffer {
  if (packet.length < 2) return packet;
  let i = 1;
  let len = 0;
  let mul = 1;
  while (i < packet.length && i <= 4) {
    len += (packet[i] & 0x7f) * mul;
    mul *= 128;
    if ((packet[i++] & 0x80) === 0) break;
  }
  const field = 'raw' in c ? Buffer.from(c.raw) : wire.varInt(Math.max(0, len + c.delta));
  return Buffer.concat([packet.subarray(0, 1), field, packet.subarray(i)]);
}
