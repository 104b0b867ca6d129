/**
 * TEST HELPERS ONLY for the MQTT e2e suites: an MQTT.js client that records what it receives,
 * a raw `net` + mqtt-packet client for byte-level checks (DUP flags, malformed input, holding
 * PUBACKs), and spawned mosquitto_sub / mosquitto_pub.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect as netConnect, type Socket } from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { generate, parser as createParser, type IPublishPacket, type Packet } from 'mqtt-packet';
import { signHs256 } from '../auth/testing.ts';
import { HOST, WAIT_MS, http, publishOk, until, type PublishOptions } from '../testing/harness.ts';

export interface Received {
  readonly topic: string;
  readonly payload: Buffer;
  readonly packet: IPublishPacket;
}

export class TestMqtt {
  readonly received: Received[] = [];
  constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => this.received.push({ topic, payload, packet }));
  }

  /** `n` of each JSON payload `{n}` received on `topic`, in arrival order. */
  ns(topic: string): number[] {
    return this.received.filter((r) => r.topic === topic && !r.packet.retain).map((r) => (JSON.parse(r.payload.toString()) as { n: number }).n);
  }

  async waitCount(topic: string, count: number, timeoutMs = WAIT_MS): Promise<void> {
    await until(`${count} messages on ${topic} (have ${this.ns(topic).length})`, () => this.ns(topic).length >= count, timeoutMs);
  }

  end(force = false): Promise<void> {
    return this.client.endAsync(force);
  }
}

/** MQTT.js connected (throws on a refused CONNACK); never reconnects by itself. */
export async function mqttConnect(url: string, opts: IClientOptions = {}): Promise<TestMqtt> {
  // Listen before CONNACK: a resumed session's messages follow it immediately.
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  const t = new TestMqtt(client);
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
  return t;
}

/** Connects and returns the CONNACK error (reason/return code) instead of a client. */
export async function mqttRefused(url: string, opts: IClientOptions = {}): Promise<number> {
  try {
    const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
    await c.endAsync(true);
  } catch (err) {
    return (err as { code?: number }).code ?? -1;
  }
  throw new Error('CONNECT was accepted');
}

/** A client on raw bytes: every decoded server packet, in order. */
export class RawMqtt {
  readonly packets: Packet[] = [];
  readonly socket: Socket;
  closed = false;
  private readonly parser;
  private constructor(socket: Socket, version: 4 | 5) {
    this.socket = socket;
    this.parser = createParser({ protocolVersion: version });
    this.parser.on('packet', (p: Packet) => this.packets.push(p));
    socket.on('data', (b: Buffer) => this.parser.parse(b));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => undefined);
  }

  static open(port: number, version: 4 | 5 = 4): Promise<RawMqtt> {
    return new Promise((resolve, reject) => {
      const s = netConnect(port, HOST, () => resolve(new RawMqtt(s, version)));
      s.once('error', reject);
    });
  }

  send(packet: Packet, version: 4 | 5 = 4): void {
    this.socket.write(generate(packet, { protocolVersion: version }));
  }

  write(bytes: Buffer | Uint8Array): void {
    this.socket.write(bytes);
  }

  async waitPacket<P extends Packet>(what: string, pred: (p: Packet) => p is P, timeoutMs = WAIT_MS): Promise<P> {
    return until(what, () => this.packets.find(pred), timeoutMs) as Promise<P>;
  }

  publishes(): IPublishPacket[] {
    return this.packets.filter((p): p is IPublishPacket => p.cmd === 'publish');
  }

  async waitClosed(timeoutMs = WAIT_MS): Promise<void> {
    await until('socket closed', () => this.closed, timeoutMs);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Bytes of packets no client library sends (protocol violations), built field by field. */
export const wire = {
  u16: (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]),
  /** A Variable Byte Integer. */
  varInt(n: number): Buffer {
    const out: number[] = [];
    do {
      out.push((n % 128) | (n >= 128 ? 0x80 : 0));
      n = Math.floor(n / 128);
    } while (n > 0);
    return Buffer.from(out);
  },
  /** A UTF-8 Encoded String (or raw bytes, to send ill-formed ones), length first. */
  str: (s: string | Buffer): Buffer => Buffer.concat([wire.u16(Buffer.byteLength(s)), Buffer.from(s)]),
  /** A 5.0 property block: Property Length, then the property bytes as given. */
  props: (bytes: number[]): Buffer => Buffer.concat([wire.varInt(bytes.length), Buffer.from(bytes)]),
  /** A whole packet: first byte (type and flags), Remaining Length, the parts. */
  packet(first: number, ...parts: Buffer[]): Buffer {
    const body = Buffer.concat(parts);
    return Buffer.concat([Buffer.from([first]), wire.varInt(body.length), body]);
  },
};

export const isCmd =
  <C extends Packet['cmd']>(cmd: C) =>
  (p: Packet): p is Extract<Packet, { cmd: C }> =>
    p.cmd === cmd;

/** true when mosquitto_sub/mosquitto_pub are installed (Debian mosquitto-clients). */
export function hasMosquittoClients(): boolean {
  return spawnSync('mosquitto_sub', ['--help']).error === undefined;
}

export interface Spawned {
  readonly proc: ChildProcess;
  /** stdout lines so far. */
  readonly lines: string[];
  readonly exited: Promise<number | null>;
  stderr(): string;
}

export function spawnClient(cmd: string, args: string[]): Spawned {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let pending = '';
  let err = '';
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (chunk: string) => {
    pending += chunk;
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    lines.push(...parts);
  });
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (c: string) => (err += c));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return { proc, lines, exited, stderr: () => err };
}

/** A REST publisher/reader allowed everywhere (engines started with --auth-hs-secret). */
export class Rest {
  private constructor(
    readonly base: string,
    readonly token: string | undefined,
  ) {}

  static async of(base: string, authOn: boolean): Promise<Rest> {
    return new Rest(base, authOn ? await signHs256({ sub: 'cloud-service', subscribe: ['*'], publish: ['*'] }) : undefined);
  }

  publish(area: string, data: unknown, opts: PublishOptions = {}): Promise<{ offset: number; epoch: string }> {
    return publishOk(this.base, area, data, { ...opts, ...(this.token !== undefined && { token: this.token }) });
  }

  /** Publishes {n} for n in [from, from + count), one after another. */
  async seq(area: string, count: number, from = 1): Promise<number[]> {
    const offsets: number[] = [];
    for (let n = from; n < from + count; n++) offsets.push((await this.publish(area, { n })).offset);
    return offsets;
  }

  /** `n` of every retained message of the area, in offset order. */
  async history(area: string): Promise<number[]> {
    const headers: Record<string, string> = this.token === undefined ? {} : { authorization: `Bearer ${this.token}` };
    const r = await http(this.base, `/v1/areas/${encodeURIComponent(area)}/messages?from=0&limit=1000`, { headers });
    if (r.status === 404) return [];
    if (r.status !== 200) throw new Error(`history answered ${r.status}: ${r.text}`);
    return (r.body as { messages: { data: { n: number } }[] }).messages.map((m) => m.data.n);
  }
}
