/**
 * End to end, every MQTT refusal: CONNACK codes (3.1.1 and 5.0), SUBACK failure codes, PUBLISH
 * refusals, malformed bytes / protocol violations / floods from a raw socket. Each closes (or
 * refuses) that one connection with its code, counts in abe_mqtt_bad_input_total, and a healthy
 * subscriber on the same engine keeps receiving throughout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IConnectPacket, Packet } from 'mqtt-packet';
import { signHs256, TEST_HS_SECRET } from '../auth/testing.ts';
import WebSocket from 'ws';
import { metric, range, startTestEngine, until, type TestEngine } from '../testing/harness.ts';
import { isCmd, mqttConnect, mqttRefused, RawMqtt, Rest, wire, type TestMqtt } from './mqtt-support.ts';

const tok = (sub: string, subscribe = ['ok:*'], publish = ['ok:*']) => signHs256({ sub, subscribe, publish });

describe('mqtt bad input', () => {
  let t: TestEngine;
  let rest: Rest;
  let healthy: TestMqtt;
  const url = () => `mqtt://127.0.0.1:${t.mqttPort}`;
  const raw5 = async (clientId: string, extra: Partial<IConnectPacket> = {}) => {
    const r = await RawMqtt.open(t.mqttPort, 5);
    r.send({ cmd: 'connect', protocolVersion: 5, clientId, username: clientId, password: Buffer.from(await tok(clientId)), clean: true, keepalive: 30, ...extra }, 5);
    return r;
  };
  const connected5 = async (clientId: string) => {
    const r = await raw5(clientId);
    const ack = await r.waitPacket('connack', isCmd('connack'));
    expect(ack.reasonCode).toBe(0);
    return r;
  };
  const disconnectCode = async (r: RawMqtt) => {
    const d = await r.waitPacket('disconnect', isCmd('disconnect'));
    await r.waitClosed();
    return d.reasonCode;
  };

  beforeAll(async () => {
    t = await startTestEngine(['--auth-hs-secret', TEST_HS_SECRET, '--max-payload-bytes', '1000', '--max-subscriptions', '2', '--max-frames-per-second', '30']);
    rest = await Rest.of(t.base, true);
    healthy = await mqttConnect(url(), { protocolVersion: 5, clientId: 'healthy', username: 'healthy', password: await tok('healthy') });
    await healthy.client.subscribeAsync('areas/ok:live', { qos: 1 });
    await rest.seq('ok:live', 5);
  });
  afterAll(async () => {
    // Everything above happened while this one stayed connected and kept receiving.
    await rest.seq('ok:live', 5, 6);
    await healthy.waitCount('areas/ok:live', 10);
    expect(healthy.ns('areas/ok:live')).toEqual(range(1, 10));
    await healthy.end(true);
    await t?.stop();
  });

  describe('CONNACK', () => {
    it('3.1.1: bad token 0x04, client id not the subject 0x05, username not the client id 0x04, empty id with clean=false 0x02', async () => {
      expect(await mqttRefused(url(), { protocolVersion: 4, clientId: 'car-1', username: 'car-1', password: 'not-a-jwt' })).toBe(4);
      expect(await mqttRefused(url(), { protocolVersion: 4, clientId: 'car-1', username: 'car-1', password: await tok('car-2') })).toBe(5);
      expect(await mqttRefused(url(), { protocolVersion: 4, clientId: 'car-1', username: 'someone', password: await tok('car-1') })).toBe(4);
      expect(await mqttRefused(url(), { protocolVersion: 4, clientId: 'car-1', username: 'car-1' })).toBe(4); // no password
      const r = await RawMqtt.open(t.mqttPort, 4);
      // CONNECT 3.1.1, clean session 0, empty client id (MQTT.js and mqtt-packet refuse to send it)
      r.write(Buffer.from([0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x00, 0, 30, 0, 0]));
      expect((await r.waitPacket('connack', isCmd('connack'))).returnCode).toBe(2);
    });

    it('5.0: bad token 0x86, client id not the subject 0x87, enhanced auth 0x8C', async () => {
      expect(await mqttRefused(url(), { protocolVersion: 5, clientId: 'car-1', username: 'car-1', password: 'nope' })).toBe(0x86);
      expect(await mqttRefused(url(), { protocolVersion: 5, clientId: 'car-1', username: 'car-1', password: await tok('car-2') })).toBe(0x87);
      const r = await raw5('car-1', { properties: { authenticationMethod: 'SCRAM-SHA-1' } });
      expect((await r.waitPacket('connack', isCmd('connack'))).reasonCode).toBe(0x8c);
      await r.waitClosed();
    });

    it('5.0: an empty client id is assigned the token subject', async () => {
      const r = await raw5('', { username: 'car-assigned', password: Buffer.from(await tok('car-assigned')) });
      const ack = await r.waitPacket('connack', isCmd('connack'));
      expect(ack.reasonCode).toBe(0);
      expect(ack.properties?.assignedClientIdentifier).toBe('car-assigned');
      // Maximum QoS absent: QoS 2 is supported [MQTT-3.2.2-9]; Subscription Identifiers are not.
      expect(ack.properties).toMatchObject({ retainAvailable: true, subscriptionIdentifiersAvailable: false, maximumPacketSize: 1000 + 4096 });
      expect(ack.properties?.wildcardSubscriptionAvailable).toBeUndefined(); // available
      expect(ack.properties?.maximumQoS).toBeUndefined();
      r.destroy();
    });

    it('unsupported protocol level: 3.1 (MQIsdp) gets 3.1.1 CONNACK 0x01, level 6 gets 5.0 CONNACK 0x84', async () => {
      const r3 = await RawMqtt.open(t.mqttPort, 4);
      r3.send({ cmd: 'connect', protocolId: 'MQIsdp', protocolVersion: 3, clientId: 'old', clean: true, keepalive: 30 });
      expect((await r3.waitPacket('connack', isCmd('connack'))).returnCode).toBe(1);
      await r3.waitClosed();
      const r6 = await RawMqtt.open(t.mqttPort, 5);
      // CONNECT, remaining length 12: "MQTT", level 6, flags 0x02, keepalive 30, properties 0, client id ""
      r6.write(Buffer.from([0x10, 13, 0, 4, 0x4d, 0x51, 0x54, 0x54, 6, 0x02, 0, 30, 0, 0, 0]));
      expect((await r6.waitPacket('connack', isCmd('connack'))).reasonCode).toBe(0x84);
      await r6.waitClosed();
    });
  });

  describe('SUBACK', () => {
    it('3.1.1: wildcard, invalid filter and a forbidden area each get 0x80; the rest is granted', async () => {
      const r = await RawMqtt.open(t.mqttPort, 4);
      r.send({ cmd: 'connect', protocolVersion: 4, clientId: 'sub4', username: 'sub4', password: Buffer.from(await tok('sub4')), clean: true, keepalive: 30 });
      await r.waitPacket('connack', isCmd('connack'));
      const subs = ['areas/+', 'nope/x', 'areas/secret:a', 'areas/ok:a'];
      r.send({ cmd: 'subscribe', messageId: 3, subscriptions: subs.map((topic) => ({ topic, qos: 1 as const })) });
      expect((await r.waitPacket('suback', isCmd('suback'))).granted).toEqual([1, 0x80, 0x80, 1]);
      r.destroy();
    });

    it('5.0: a wildcard is granted, 0xA2 shared over a wildcard, 0x8F invalid filter, 0x87 forbidden, 0x97 over --max-subscriptions', async () => {
      const r = await connected5('sub5');
      const subs = ['areas/#', '$share/g/areas/+', 'areas/ok/a', 'areas/secret:a', 'areas/ok:a', 'areas/ok:b', 'areas/ok:c'];
      r.send({ cmd: 'subscribe', messageId: 7, subscriptions: subs.map((topic) => ({ topic, qos: 1 as const })) }, 5);
      const ack = await r.waitPacket('suback', isCmd('suback'));
      expect(ack.granted).toEqual([1, 0xa2, 0x8f, 0x87, 1, 1, 0x97]);
      r.destroy();
    });
  });

  describe('PUBLISH', () => {
    it.each([
      ['topic outside areas/ (0x90)', { topic: 'other/x' }, 0x90],
      ['topic alias (0x94)', { properties: { topicAlias: 1 } }, 0x94],
      ['payload over --max-payload-bytes (0x95)', { payload: Buffer.alloc(2000, 0x41) }, 0x95],
      ['QoS 0 to a forbidden area (0x87)', { topic: 'areas/secret:a' }, 0x87],
    ])('5.0 DISCONNECT for %s', async (_name, over, code) => {
      const r = await connected5(`pub-${code}`);
      r.send({ cmd: 'publish', topic: 'areas/ok:p', payload: Buffer.from('{}'), qos: 0, dup: false, retain: false, ...over }, 5);
      expect(await disconnectCode(r)).toBe(code);
    });

    it('5.0 PUBACK 0x87 for a forbidden area and 0x99 for invalid declared JSON; the connection stays', async () => {
      const r = await connected5('pub-acks');
      r.send({ cmd: 'publish', topic: 'areas/secret:a', payload: Buffer.from('{}'), qos: 1, messageId: 1, dup: false, retain: false }, 5);
      r.send({ cmd: 'publish', topic: 'areas/ok:json', payload: Buffer.from('{nope'), qos: 1, messageId: 2, dup: false, retain: false, properties: { contentType: 'application/json' } }, 5);
      r.send({ cmd: 'publish', topic: 'areas/ok:json', payload: Buffer.from('{"n":1}'), qos: 1, messageId: 3, dup: false, retain: false }, 5);
      const acks = async () => r.packets.filter(isCmd('puback'));
      await r.waitPacket('third puback', (p): p is never => p.cmd === 'puback' && p.messageId === 3);
      expect((await acks()).map((p) => [p.messageId, p.reasonCode])).toEqual([[1, 0x87], [2, 0x99], [3, 0]]);
      expect(r.closed).toBe(false);
      r.destroy();
    });
  });

  describe('protocol violations from a raw socket', () => {
    it('first packet not CONNECT: closed without an answer', async () => {
      const r = await RawMqtt.open(t.mqttPort, 4);
      r.write(Buffer.from([0xc0, 0x00])); // PINGREQ
      await r.waitClosed();
      expect(r.packets).toEqual([]);
    });

    it('malformed packet after CONNECT: 5.0 DISCONNECT 0x81; SUBSCRIBE without filters: 0x82', async () => {
      const a = await connected5('garbage');
      a.write(Buffer.from([0x30, 0x03, 0x00, 0x10, 0x41])); // PUBLISH whose topic overruns the packet
      expect(await disconnectCode(a)).toBe(0x81);
      const b = await connected5('empty-sub');
      b.write(Buffer.from([0x82, 0x03, 0x00, 0x01, 0x00])); // SUBSCRIBE id 1, no properties, no filter
      expect(await disconnectCode(b)).toBe(0x82);
    });

    it('a remaining length of five bytes is malformed (0x81); an oversize packet is refused from its header (0x95)', async () => {
      const a = await connected5('len5');
      a.write(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]));
      expect(await disconnectCode(a)).toBe(0x81);
      const b = await connected5('huge');
      b.write(Buffer.from([0x30, 0x80, 0x80, 0x40])); // announces 1 MiB; nothing else sent
      expect(await disconnectCode(b)).toBe(0x95);
    });

    it('second CONNECT: 0x82; PUBREL for a packet id never received: PUBCOMP 0x92, the connection stays', async () => {
      const a = await connected5('twice');
      a.send({ cmd: 'connect', protocolVersion: 5, clientId: 'twice', clean: true, keepalive: 30 }, 5);
      expect(await disconnectCode(a)).toBe(0x82);
      const b = await connected5('pubrel');
      b.send({ cmd: 'pubrel', messageId: 1 }, 5);
      expect((await b.waitPacket('pubcomp', isCmd('pubcomp'))).reasonCode).toBe(0x92);
      expect(b.closed).toBe(false);
      b.destroy();
    });

    it('a flood of packets: 0x96', async () => {
      const r = await connected5('flood');
      for (let i = 0; i < 100; i++) r.send({ cmd: 'pingreq' }, 5);
      expect(await disconnectCode(r)).toBe(0x96);
    });

    it('3.1.1 garbage bytes: the socket is closed', async () => {
      const r = await RawMqtt.open(t.mqttPort, 4);
      r.write(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
      await r.waitClosed();
    });

    it('counts each refusal in abe_mqtt_bad_input_total by reason', async () => {
      expect(await metric(t.base, 'abe_mqtt_bad_input_total', { reason: 'malformed_packet' })).toBeGreaterThanOrEqual(2);
      expect(await metric(t.base, 'abe_mqtt_bad_input_total', { reason: 'bad_user_name_or_password' })).toBeGreaterThanOrEqual(3);
      expect(await metric(t.base, 'abe_mqtt_bad_input_total', { reason: 'message_rate_too_high' })).toBeGreaterThanOrEqual(1);
      expect(await metric(t.base, 'abe_mqtt_disconnects_total', { reason: 'packet_too_large' })).toBeGreaterThanOrEqual(2);
    });
  });

  describe('violations mqtt-packet parses silently (raw bytes)', () => {
    let n = 0;
    const id = (prefix: string) => `${prefix}-${++n}`;
    const reasonOf = (code: number) => (code === 0x81 ? 'malformed_packet' : 'protocol_error');
    const badInput = async (reason: string) => (await metric(t.base, 'abe_mqtt_bad_input_total', { reason })) ?? 0;
    /** Runs `act` and expects abe_mqtt_bad_input_total{reason} to have grown by exactly one. */
    const counted = async <T>(reason: string, act: () => Promise<T>): Promise<T> => {
      const before = await badInput(reason);
      const out = await act();
      expect(await badInput(reason)).toBe(before + 1);
      return out;
    };
    const userProperty = (name: number[], value: number[]) => [0x26, 0, name.length, ...name, 0, value.length, ...value];
    const K = [0x6b]; // "k"
    /** 5.0 CONNECT with a valid token, the given property bytes and, if given, a will with these property bytes. */
    const connect5 = async (clientId: string, props: number[], willProps?: number[]) =>
      wire.packet(
        0x10,
        wire.str('MQTT'),
        Buffer.from([5, willProps === undefined ? 0xc2 : 0xc6, 0, 30]), // user name, password, clean start (, will)
        wire.props(props),
        wire.str(clientId),
        ...(willProps === undefined ? [] : [wire.props(willProps), wire.str('areas/ok:will'), wire.str('{}')]),
        wire.str(clientId),
        wire.str(await tok(clientId)),
      );
    const publish = (first: number, packetId: number | undefined, props: number[] | undefined) =>
      wire.packet(first, wire.str('areas/ok:p'), ...(packetId === undefined ? [] : [wire.u16(packetId)]), ...(props === undefined ? [] : [wire.props(props)]), Buffer.from('{}'));

    it.each([
      ['Session Expiry Interval twice', [0x11, 0, 0, 0, 9, 0x11, 0, 0, 0, 9], undefined, 0x82, '§3.1.2.11'],
      ['Receive Maximum 0', [0x21, 0, 0], undefined, 0x82, '§3.1.2.11.3'],
      ['Maximum Packet Size 0', [0x27, 0, 0, 0, 0], undefined, 0x82, '§3.1.2.11.4'],
      ['Request Problem Information 2', [0x17, 2], undefined, 0x82, '§3.1.2.11.7'],
      ['ill-formed UTF-8 (a surrogate) in a User Property', userProperty(K, [0xed, 0xa0, 0x80]), undefined, 0x81, 'MQTT-1.5.4-1'],
      ['Content Type twice in the will properties', [], [0x03, 0, 1, 0x61, 0x03, 0, 1, 0x61], 0x82, '§3.1.3.2'],
    ])('5.0 CONNECT with %s: CONNACK with the reason code and the clause, then closed', async (_name, props, willProps, code, clause) => {
      const r = await RawMqtt.open(t.mqttPort, 5);
      const bytes = await connect5(id('bad-connect'), props, willProps);
      const ack = await counted(reasonOf(code), () => answeredThenClosed(r, bytes, 'connack'));
      expect(ack.reasonCode).toBe(code);
      expect(ack.properties?.reasonString).toContain(clause);
    });

    it.each([
      ['Packet Identifier 0 at QoS 1', publish(0x32, 0, []), 0x82, 'MQTT-2.2.1-3'],
      ['DUP=1 at QoS 0', publish(0x38, undefined, []), 0x82, 'MQTT-3.3.1-2'],
      ['a Subscription Identifier', publish(0x30, undefined, [0x0b, 5]), 0x82, 'MQTT-3.3.4-6'],
      // mqtt-packet hands a repeated property on as an array: this one used to throw in the handler and end the process.
      ['Content Type twice', publish(0x30, undefined, [0x03, 0, 1, 0x61, 0x03, 0, 1, 0x61]), 0x82, '§3.3.2.3'],
      ['ill-formed UTF-8 in a User Property', publish(0x30, undefined, userProperty(K, [0xc3, 0x28])), 0x81, 'MQTT-1.5.4-1'],
    ])('5.0 PUBLISH with %s: DISCONNECT with the reason code and the clause', async (_name, bytes, code, clause) => {
      const r = await connected5(id('bad-publish'));
      const d = await counted(reasonOf(code), () => answeredThenClosed(r, bytes, 'disconnect'));
      expect(d.reasonCode).toBe(code);
      expect(d.properties?.reasonString).toContain(clause);
      expect(r.packets.filter(isCmd('puback'))).toEqual([]);
    });

    it.each([
      ['Packet Identifier 0 at QoS 1 [MQTT-2.3.1-1]', publish(0x32, 0, undefined)],
      ['DUP=1 at QoS 0 [MQTT-3.3.1-2]', publish(0x38, undefined, undefined)],
    ])('3.1.1 PUBLISH with %s: closed', async (_name, bytes) => {
      const r = await RawMqtt.open(t.mqttPort, 4);
      const clientId = id('bad-publish4');
      r.send({ cmd: 'connect', protocolVersion: 4, clientId, username: clientId, password: Buffer.from(await tok(clientId)), clean: true, keepalive: 30 });
      expect((await r.waitPacket('connack', isCmd('connack'))).returnCode).toBe(0);
      await counted('protocol_error', async () => {
        r.write(bytes);
        await r.waitClosed();
      });
      expect(r.packets.map((p) => p.cmd)).toEqual(['connack']);
    });

    it('MQTT.js 5.0 sending every property it may (UTF-8 user properties, repeated names, a will) connects, publishes and receives', async () => {
      const before = [await badInput('protocol_error'), await badInput('malformed_packet')];
      const c = await mqttConnect(url(), {
        protocolVersion: 5,
        clientId: 'valid5',
        username: 'valid5',
        password: await tok('valid5'),
        properties: {
          sessionExpiryInterval: 0,
          receiveMaximum: 10,
          maximumPacketSize: 1 << 20,
          topicAliasMaximum: 0,
          requestResponseInformation: false,
          requestProblemInformation: true,
          userProperties: { 'größe': 'ünïcødé ✓ 🚗', tag: ['a', 'b'] },
        },
        will: { topic: 'areas/ok:will', payload: Buffer.from('{}'), qos: 1, retain: false, properties: { contentType: 'application/json', userProperties: { k: 'v' } } },
      });
      await c.client.subscribeAsync('areas/ok:valid', { qos: 1, properties: { userProperties: { s: 'é' } } });
      await c.client.publishAsync('areas/ok:valid', JSON.stringify({ n: 1 }), {
        qos: 1,
        properties: { contentType: 'application/json', payloadFormatIndicator: true, messageExpiryInterval: 60, responseTopic: 'areas/ok:reply', correlationData: Buffer.from([0, 1]), userProperties: { 'é': ['ü', 'ö'] } },
      });
      await c.client.publishAsync('areas/ok:valid', JSON.stringify({ n: 2 }), { qos: 0, properties: { userProperties: { x: 'y' } } });
      await c.waitCount('areas/ok:valid', 2);
      expect(c.ns('areas/ok:valid')).toEqual([1, 2]);
      await c.end();
      expect([await badInput('protocol_error'), await badInput('malformed_packet')]).toEqual(before);
    });
  });
});

describe('mqtt limits and dev mode', () => {
  it('over --max-connections: 3.1.1 CONNACK 0x03, 5.0 0x89; without an auth key anonymous clients work (loopback only)', async () => {
    const t = await startTestEngine(['--max-connections', '2']);
    const rest = await Rest.of(t.base, false);
    try {
      const a = await mqttConnect(`mqtt://127.0.0.1:${t.mqttPort}`, { protocolVersion: 4 }); // anonymous, generated client id
      await a.client.subscribeAsync('areas/dev:x', { qos: 1 });
      await rest.seq('dev:x', 3);
      await a.waitCount('areas/dev:x', 3);
      const b = await mqttConnect(`mqtt://127.0.0.1:${t.mqttPort}`, { protocolVersion: 5, clientId: 'b' });
      expect(await mqttRefused(`mqtt://127.0.0.1:${t.mqttPort}`, { protocolVersion: 4, clientId: 'c' })).toBe(3);
      expect(await mqttRefused(`mqtt://127.0.0.1:${t.mqttPort}`, { protocolVersion: 5, clientId: 'd' })).toBe(0x89);
      // At the limit, a reconnect of a live client id takes its old connection over: never busy.
      const b2 = await mqttConnect(`mqtt://127.0.0.1:${t.mqttPort}`, { protocolVersion: 5, clientId: 'b' });
      await until('the old connection closed (0x8E)', () => !b.client.connected);
      await a.end(true);
      await b2.end(true);
    } finally {
      await t.stop();
    }
  });
});

describe('mqtt over websocket: frames uWS refuses itself', () => {
  // uWS 20.30 drops a frame over maxPayloadLength (packet limit + 1 KiB) or a text frame that is
  // not UTF-8 before the engine sees it: the client can only see 1006, but the engine counts and
  // logs it (transports/shared/uws-close.ts) like its own refusals.
  let t: TestEngine;
  beforeAll(async () => {
    t = await startTestEngine(['--max-payload-bytes', '1000']);
  });
  afterAll(async () => {
    await t?.stop();
  });
  it.each([
    ['a frame over the packet limit', 'packet_too_large', (ws: WebSocket) => ws.send(Buffer.alloc(8192), { binary: true })],
    ['a text frame that is not UTF-8', 'malformed_packet', (ws: WebSocket) => ws.send(Buffer.from([0x10, 0xff, 0xfe]), { binary: false })],
  ] as const)('%s: 1006, counted as %s', async (_name, reason, send) => {
    const before = (await metric(t.base, 'abe_mqtt_bad_input_total', { reason })) ?? 0;
    const ws = new WebSocket(`ws://127.0.0.1:${t.port}/mqtt`, 'mqtt');
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    send(ws);
    expect(await closed).toBe(1006);
    await until(`abe_mqtt_bad_input_total{reason=${reason}} counted`, async () => (await metric(t.base, 'abe_mqtt_bad_input_total', { reason })) === before + 1);
  });
});

/** Writes `bytes`, waits for the engine's `cmd` packet and for the close that follows it. */
async function answeredThenClosed<C extends 'connack' | 'disconnect'>(r: RawMqtt, bytes: Buffer, cmd: C): Promise<Extract<Packet, { cmd: C }>> {
  r.write(bytes);
  const answer = await r.waitPacket(cmd, isCmd(cmd));
  await r.waitClosed();
  return answer;
}
