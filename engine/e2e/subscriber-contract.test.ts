/**
 * The Subscriber contract (engine/areas/subscriber.ts), one suite run against every transport's
 * implementation, on real sockets with clients nobody here wrote (`ws`, raw MQTT over `net`):
 *
 * - write(frame, offset) puts exactly that message on the wire, in order; while the client does
 *   not read it buffers (bufferedAmount grows) until it refuses with WRITE_DROPPED, and a refused
 *   write puts nothing on the wire: once the client reads again it gets every offset exactly once.
 * - close(reason) never mutates the cursor's subscriber list in the caller's tick (areas call it
 *   while iterating); the client then sees the transport's code for that reason and the cursor
 *   forgets the subscriber; after it, `closed` is true and writes put nothing on the wire.
 * - a client that goes away makes `closed` true.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { generate, parser as createParser, type IPublishPacket, type Packet } from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { WRITE_DROPPED, type Subscriber } from '../areas/subscriber.ts';
import { CLOSE, MQTT_CLOSE, MQTT_REASON } from '../errors.ts';
import { HOST, publishOk, sleep, startTestEngine, until, type TestEngine } from '../testing/harness.ts';

/** A client of one transport, subscribed to one area, as the contract needs to see it. */
interface Client {
  /** The engine's Subscriber for this client and area. */
  readonly sub: Subscriber;
  /** Offsets received, in order. */
  readonly offsets: number[];
  /** How the engine closed it, as a registry CloseReason code on its wire (undefined: still open). */
  closedWith(): number | undefined;
  pauseReading(): void;
  resumeReading(): void;
  end(): void;
}

interface TransportHarness {
  readonly name: string;
  open(t: TestEngine, area: string, id: string): Promise<Client>;
  /** The wire code a client sees for an engine close with this reason. */
  codeOf(reason: keyof typeof CLOSE): number;
}

const wsHarness: TransportHarness = {
  name: 'WebSocket v1.json (WsConnection)',
  async open(t, area) {
    const ws = new WebSocket(t.wsUrl, 'v1.json');
    const offsets: number[] = [];
    let code: number | undefined;
    ws.on('message', (data) => {
      const f = JSON.parse(String(data)) as { type: string; offset?: number };
      if (f.type === 'message') offsets.push(f.offset!);
    });
    ws.on('close', (c) => (code = c));
    await new Promise<void>((r, j) => ws.once('open', () => r()).once('error', j));
    ws.send(JSON.stringify({ type: 'subscribe', area }));
    const conn = await until('server-side subscriber', () => [...t.engine.ws.connections].find((c) => c.hasSubscription(area) && typeof c.subscription(area) === 'object'));
    const socket = (ws as unknown as { _socket: Socket })._socket;
    return { sub: conn, offsets, closedWith: () => code, pauseReading: () => socket.pause(), resumeReading: () => socket.resume(), end: () => ws.terminate() };
  },
  codeOf: (reason) => CLOSE[reason].code,
};

const mqttHarness: TransportHarness = {
  name: 'MQTT 5 QoS 0 over TCP (MqttSubscription)',
  async open(t, area, id) {
    const socket = await new Promise<Socket>((r, j) => {
      const s = netConnect(t.mqttPort, HOST, () => r(s)).once('error', j);
    });
    const offsets: number[] = [];
    let code: number | undefined;
    const parser = createParser({ protocolVersion: 5 });
    parser.on('packet', (p: Packet) => {
      if (p.cmd === 'publish') offsets.push(Number((p as IPublishPacket).properties?.userProperties?.offset));
      if (p.cmd === 'disconnect') code = p.reasonCode;
    });
    socket.on('data', (b: Buffer) => parser.parse(b));
    socket.on('error', () => undefined);
    socket.write(generate({ cmd: 'connect', protocolVersion: 5, clientId: id, clean: true, keepalive: 60 }, { protocolVersion: 5 }));
    socket.write(generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `areas/${area}`, qos: 0 }] }, { protocolVersion: 5 }));
    const sub = await until('server-side subscriber', () => {
      const c = [...t.engine.mqtt.connections].find((x) => x.clientId === id);
      const s = c?.subs.get(area);
      return s !== undefined && s.slot >= 0 && s.started ? s : undefined;
    });
    return { sub, offsets, closedWith: () => code, pauseReading: () => socket.pause(), resumeReading: () => socket.resume(), end: () => socket.destroy() };
  },
  codeOf: (reason) => MQTT_REASON[MQTT_CLOSE[reason]].v5,
};

const PAYLOAD = { blob: 'x'.repeat(16 * 1024) };

describe.each([wsHarness, mqttHarness])('Subscriber contract: $name', (h) => {
  let t: TestEngine;
  let n = 0;
  const clients: Client[] = [];
  const open = async (area: string): Promise<Client> => {
    const c = await h.open(t, area, `contract-${++n}`);
    clients.push(c);
    return c;
  };
  const subscribers = (area: string): number => t.engine.areas.find(area)?.subscriberCount ?? 0;

  beforeAll(async () => {
    // A small budget so that a client that stops reading is refused quickly.
    t = await startTestEngine(['--max-backpressure-bytes', String(64 * 1024)]);
  });
  afterAll(async () => {
    for (const c of clients) c.end();
    await t?.stop();
  });

  it('writes each message once and in order; buffers, then refuses (WRITE_DROPPED) a client that stops reading; a refused write puts nothing on the wire', async () => {
    const area = `contract:flow-${h.name.length}`;
    const c = await open(area);
    await publishOk(t.base, area, { n: 0 });
    await until('first message', () => c.offsets.length === 1);
    c.pauseReading();
    const results: number[] = [];
    const write = c.sub.write.bind(c.sub);
    c.sub.write = (frame, offset) => {
      const r = write(frame, offset);
      results.push(r);
      return r;
    };
    let published = 1;
    while (!results.includes(WRITE_DROPPED) && published < 400) {
      await publishOk(t.base, area, PAYLOAD);
      published++;
    }
    expect(results).toContain(WRITE_DROPPED);
    expect(c.sub.bufferedAmount()).toBeGreaterThan(0);
    c.resumeReading();
    await until(`all ${published} messages`, () => c.offsets.length >= published, 20_000);
    await sleep(100);
    expect(c.offsets).toEqual(Array.from({ length: published }, (_, i) => i + 1));
    await until('drained', () => c.sub.bufferedAmount() === 0);
  });

  it('close() is deferred past the caller\'s tick; then the client sees the reason, the cursor forgets it, and nothing more is written', async () => {
    const area = `contract:close-${h.name.length}`;
    const c = await open(area);
    await publishOk(t.base, area, { n: 1 });
    await until('first message', () => c.offsets.length === 1);
    const before = subscribers(area);
    c.sub.close('slow_consumer', 'contract test');
    expect(subscribers(area)).toBe(before); // not in the caller's tick
    await until('client saw the close', () => c.closedWith() !== undefined);
    expect(c.closedWith()).toBe(h.codeOf('slow_consumer'));
    await until('cursor forgot it', () => subscribers(area) === before - 1);
    expect(c.sub.closed).toBe(true);
    expect(c.sub.write(Buffer.from('late'), 99)).toBe(WRITE_DROPPED);
    await publishOk(t.base, area, { n: 2 });
    await sleep(100);
    expect(c.offsets).toEqual([1]);
  });

  it('a client that goes away makes closed true and leaves the cursor', async () => {
    const area = `contract:gone-${h.name.length}`;
    const c = await open(area);
    expect(c.sub.closed).toBe(false);
    c.end();
    await until('closed', () => c.sub.closed);
    await until('cursor forgot it', () => subscribers(area) === 0);
  });
});
