/**
 * The producer for an MQTT broker target (`--target mqtt://host:port`, e.g. Mosquitto): one
 * connection, QoS 1 PUBLISH to `areas/{area}`, PUBACK = the publish latency. A broker gives no
 * offsets, so the offset of a message is its per-area sequence number, assigned in send order:
 * one connection and QoS 1 keep that order per topic, and the vehicles derive the same number
 * from `seq` in the payload (./mqtt-vehicle.ts, offsetFrom 'seq').
 */
import net from 'node:net';
import { encodeConnect, encodePublish, MqttProtocolError, packetLength, PINGREQ_BYTES, CONNACK, PUBACK, readConnack } from './mqtt-codec.ts';
import type { Sender } from './publisher.ts';

export async function mqttSender(host: string, port: number, areas: readonly string[], version: 4 | 5 = 5): Promise<Sender> {
  const sock = net.connect({ host, port });
  sock.setNoDelay(true);
  const topics = areas.map((a) => `areas/${a}`);
  const counts = areas.map(() => 0);
  const pending = new Map<number, () => void>();
  let nextId = 1;
  let buf: Buffer = Buffer.alloc(0);
  let failure: string | undefined;
  let onReady: (err?: Error) => void = () => undefined;
  const ready = new Promise<void>((resolve, reject) => (onReady = (err) => (err === undefined ? resolve() : reject(err))));
  const failAll = (why: string): void => {
    failure ??= why;
    onReady(new Error(why));
    for (const p of pending.values()) p();
    pending.clear();
  };
  sock.on('connect', () => sock.write(encodeConnect({ version, clientId: `loadtest-publisher-${process.pid}-${Date.now().toString(36)}`, clean: true, keepaliveSeconds: 60 })));
  sock.on('error', (err: NodeJS.ErrnoException) => failAll(`mqtt publisher: ${err.code ?? err.message}`));
  sock.on('close', () => failAll('mqtt publisher: connection closed'));
  sock.on('data', (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    let p = 0;
    try {
      for (;;) {
        const len = packetLength(buf, p, buf.length);
        if (len === 0 || p + len > buf.length) break;
        const type = buf[p] >> 4;
        if (type === CONNACK) {
          const c = readConnack(buf, p);
          if (c.code === 0) onReady();
          else failAll(`mqtt publisher: CONNACK 0x${c.code.toString(16)}`);
        } else if (type === PUBACK) {
          const id = buf.readUInt16BE(p + 2); // remaining length < 128: the id follows it
          const done = pending.get(id);
          pending.delete(id);
          done?.();
        }
        p += len;
      }
    } catch (err) {
      failAll(err instanceof MqttProtocolError ? err.message : String(err));
    }
    buf = buf.subarray(p);
  });
  const ping = setInterval(() => sock.write(PINGREQ_BYTES), 30_000);
  ping.unref();
  await ready;
  return {
    send: (areaIndex, body) =>
      new Promise((resolve) => {
        if (failure !== undefined) return resolve({ error: failure });
        if (pending.size >= 65_000) return resolve({ error: 'too many publishes in flight' });
        while (pending.has(nextId)) nextId = (nextId % 65535) + 1;
        const id = nextId;
        nextId = (nextId % 65535) + 1;
        const offset = ++counts[areaIndex];
        pending.set(id, () => resolve(failure === undefined ? { offset } : { error: failure }));
        sock.write(encodePublish(version, topics[areaIndex], body, 1, id));
      }),
    close: () => {
      clearInterval(ping);
      sock.end(Buffer.from([0xe0, 0]));
    },
  };
}
