/**
 * TEST HELPERS ONLY: runs one MQTT fuzz case over a raw TCP socket or a WebSocket on /mqtt, and
 * holds the engine to the reference (mqtt-oracle.ts):
 *   - every packet the engine sends parses, and every reason code in it is in MQTT_REASON;
 *   - what must close closes, and every close the engine makes is counted (abe_mqtt_bad_input_total
 *     and abe_mqtt_disconnects_total) and, on a 5.0 connection, announced by DISCONNECT / CONNACK;
 *   - a connection left open answered everything (CONNACK, SUBACK, UNSUBACK, PUBACK, PINGRESP);
 *   - nothing stored that the stream did not publish, every PUBACK 0x00 stored, a refused one not.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { parser as createParser, type Packet } from 'mqtt-packet';
import { expect } from 'vitest';
import WebSocket from 'ws';
import { MQTT_REASON } from '../../errors.ts';
import type { LogRecord } from '../../log/types.ts';
import { HOST, until } from '../../testing/harness.ts';
import { expectCarriable, FUZZ_MAX_PAYLOAD, sample, type FuzzEnv } from './env.ts';
import { candidates, referenceParse, type Candidate, type Reference } from './mqtt-oracle.ts';
import type { MqttCase } from './mqtt-target.ts';
import { hex, split } from './mutate.ts';

/** README: Maximum Packet Size = --max-payload-bytes + 4 KiB. */
export const MAX_PACKET = FUZZ_MAX_PAYLOAD + 4096;
const V5_CODES = new Set<number>(Object.values(MQTT_REASON).map((r) => r.v5));
const V4_CONNACK = new Set<number>([0, ...Object.values(MQTT_REASON).flatMap((r) => ('v4' in r ? [r.v4] : []))]);
const PINGREQ = Buffer.from([0xc0, 0x00]);
/** Polling period of the waits: answers come within a millisecond or two, and there are hundreds of cases. */
const POLL_MS = 2;

/** A byte pipe to the engine: what it sent (parsed as it arrives) and whether it closed. */
class Pipe {
  readonly packets: Packet[] = [];
  parseError: string | undefined;
  closed = false;
  private readonly parser;
  private constructor(
    version: 4 | 5,
    private readonly send: (b: Buffer) => void,
    readonly destroy: () => void,
  ) {
    this.parser = createParser({ protocolVersion: version });
    this.parser.on('packet', (p: Packet) => this.packets.push(p));
    this.parser.on('error', (e: Error) => (this.parseError ??= e.message));
  }

  static async open(env: FuzzEnv, transport: 'tcp' | 'ws', version: 4 | 5): Promise<Pipe> {
    if (transport === 'tcp') {
      const s: Socket = await new Promise((resolve, reject) => {
        const sock = netConnect(env.t.mqttPort, HOST, () => resolve(sock));
        sock.once('error', reject);
      });
      s.setNoDelay(true);
      const pipe = new Pipe(version, (b) => s.write(b), () => s.destroy());
      s.on('data', (b: Buffer) => pipe.onBytes(b));
      s.on('close', () => (pipe.closed = true));
      s.on('error', () => undefined);
      return pipe;
    }
    const ws = new WebSocket(`ws://${HOST}:${env.t.port}/mqtt`, ['mqtt']);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const pipe = new Pipe(version, (b) => ws.readyState === ws.OPEN && ws.send(b, { binary: true }), () => ws.terminate());
    ws.on('message', (b: Buffer) => pipe.onBytes(b));
    ws.on('close', () => (pipe.closed = true));
    ws.on('error', () => undefined);
    return pipe;
  }

  private onBytes(b: Buffer): void {
    if (this.parseError === undefined) this.parser.parse(b);
  }

  /** Writes the pieces one event-loop turn apart, so they reach the engine as separate reads / frames. */
  async write(pieces: readonly Buffer[]): Promise<void> {
    for (const [i, p] of pieces.entries()) {
      if (this.closed) return;
      if (i > 0) await new Promise((r) => setImmediate(r));
      this.send(p);
    }
  }

  count(cmd: Packet['cmd']): number {
    return this.packets.filter((p) => p.cmd === cmd).length;
  }
}

export interface MqttOutcome {
  readonly ref: Reference;
  readonly packets: readonly Packet[];
  readonly parseError: string | undefined;
  /** The engine closed before we did. */
  readonly closed: boolean;
  readonly badInput: number;
  readonly disconnects: number;
  /** Closes for an engine-side failure: never expected while the log is healthy. */
  readonly unspecified: number;
  /** Records new since the case started, per area. */
  readonly stored: ReadonlyMap<string, LogRecord[]>;
}

export async function runMqttCase(env: FuzzEnv, c: MqttCase): Promise<MqttOutcome> {
  const whole = c.then === undefined ? c.stream : Buffer.concat([c.stream, c.then]);
  const ref = referenceParse(whole, MAX_PACKET);
  const heads = await env.store.heads();
  const metrics = async (): Promise<number[]> => [
    await sample(env.t, 'abe_mqtt_bad_input_total'),
    await sample(env.t, 'abe_mqtt_disconnects_total'),
    await sample(env.t, 'abe_mqtt_disconnects_total', { reason: 'unspecified_error' }),
  ];
  const before = await metrics();
  const pipe = await Pipe.open(env, c.transport, ref.serverVersion);
  try {
    // A complete, well-framed stream gets our PINGREQ after it: its PINGRESP says the engine got that far.
    const sync = ref.mustClose === undefined && !ref.partial && !ref.clientDisconnects;
    const withSync = (b: Buffer): Buffer => (sync ? Buffer.concat([b, PINGREQ]) : b);
    if (c.then === undefined) await pipe.write(split(withSync(c.stream), c.cuts));
    else {
      await pipe.write(split(c.stream, c.cuts));
      await until('CONNACK', () => pipe.closed || pipe.count('connack') > 0, 5000, POLL_MS);
      await pipe.write([withSync(c.then)]);
    }
    await waitAnswered(pipe, ref, sync);
  } finally {
    pipe.destroy();
  }
  const closed = pipe.closed;
  // Barrier: the engine has seen the connection go (wills published) and no append is still running.
  await until('fuzz connection gone and appends done', async () => env.t.engine.mqtt.connections.size === 1 && (await sample(env.t, 'abe_pending_appends')) === 0, 5000, POLL_MS);
  const after = await metrics();
  return {
    ref,
    packets: pipe.packets,
    parseError: pipe.parseError,
    closed,
    badInput: after[0] - before[0],
    disconnects: after[1] - before[1],
    unspecified: after[2] - before[2],
    stored: await env.store.changedSince(heads),
  };
}

async function waitAnswered(pipe: Pipe, ref: Reference, sync: boolean): Promise<void> {
  const want = (cmd: Packet['cmd']): number => ref.packets.filter((p) => p.cmd === cmd).length;
  const qos1 = ref.packets.filter((p) => p.cmd === 'publish' && p.qos === 1).length;
  const qos2 = ref.packets.filter((p) => p.cmd === 'publish' && p.qos === 2).length;
  const answered = (): boolean =>
    pipe.count('connack') >= want('connect') &&
    pipe.count('suback') >= want('subscribe') &&
    pipe.count('unsuback') >= want('unsubscribe') &&
    pipe.count('puback') >= qos1 &&
    pipe.count('pubrec') >= qos2 &&
    pipe.count('pubcomp') >= want('pubrel') &&
    pipe.count('pingresp') >= want('pingreq') + (sync ? 1 : 0);
  const done = (): boolean => pipe.closed || pipe.parseError !== undefined || (!ref.clientDisconnects && ref.mustClose === undefined && answered());
  await until('the engine answered or closed', done, 5000, POLL_MS).catch(() => undefined);
  // Left open while waiting for the rest of a packet: give the engine a moment to act on the complete ones.
  if (!pipe.closed && ref.partial) await new Promise((r) => setTimeout(r, 20));
}

export function checkMqttOutcome(c: MqttCase, o: MqttOutcome): void {
  const where = `stream ${hex(c.stream)} over ${c.transport}, reference ${JSON.stringify({ mustClose: o.ref.mustClose, partial: o.ref.partial, cmds: o.ref.packets.map((p) => p.cmd) })}, answers ${JSON.stringify(o.packets.map(summary))}`;
  expect(o.parseError, `the engine sent bytes that do not parse (${where})`).toBeUndefined();
  for (const p of o.packets) checkCodes(p, o.ref.serverVersion, where);
  expect(o.unspecified, `engine-side failure while the log is healthy (${where})`).toBe(0);
  if (o.ref.mustClose !== undefined) expect(o.closed, `must close: ${o.ref.mustClose} (${where})`).toBe(true);
  if (o.closed && !o.ref.clientDisconnects) {
    expect(o.disconnects, `a close the engine did not count (${where})`).toBeGreaterThan(0);
    expect(o.badInput, `a close not counted as bad input (${where})`).toBeGreaterThan(0);
    const connack = o.packets.find((p) => p.cmd === 'connack');
    const accepted = connack !== undefined && (connack.reasonCode ?? connack.returnCode) === 0;
    if (o.ref.serverVersion === 5 && o.ref.packets[0]?.cmd === 'connect' && connack === undefined) {
      // A 5.0 client whose CONNECT parsed is told why: CONNACK with the code, or CONNACK then DISCONNECT.
      expect.fail(`5.0: closed without CONNACK (${where})`);
    }
    if (accepted && o.ref.serverVersion === 5) {
      const d = o.packets.find((p) => p.cmd === 'disconnect');
      expect(d?.reasonCode, `5.0: an engine close after CONNACK comes with DISCONNECT and a reason (${where})`).toBeGreaterThanOrEqual(0x80);
    }
  }
  if (!o.closed && !o.ref.partial && !o.ref.clientDisconnects) checkAnsweredOnce(o, where);
  checkStored(o, where);
}

/** Open at the end: each packet that asks for an answer got exactly one, SUBACKs with one code per filter. */
function checkAnsweredOnce(o: MqttOutcome, where: string): void {
  const sent = (pred: (p: Packet) => boolean): number => o.ref.packets.filter(pred).length;
  const got = (cmd: Packet['cmd']): number => o.packets.filter((p) => p.cmd === cmd).length;
  expect(got('connack'), `one CONNACK (${where})`).toBe(1);
  expect(got('pingresp'), `a PINGRESP per PINGREQ, ours included (${where})`).toBe(sent((p) => p.cmd === 'pingreq') + 1);
  expect(got('suback'), `a SUBACK per SUBSCRIBE (${where})`).toBe(sent((p) => p.cmd === 'subscribe'));
  expect(got('unsuback'), `an UNSUBACK per UNSUBSCRIBE (${where})`).toBe(sent((p) => p.cmd === 'unsubscribe'));
  expect(got('puback'), `a PUBACK per QoS 1 PUBLISH (${where})`).toBe(sent((p) => p.cmd === 'publish' && p.qos === 1));
  expect(got('pubrec'), `a PUBREC per QoS 2 PUBLISH (${where})`).toBe(sent((p) => p.cmd === 'publish' && p.qos === 2));
  expect(got('pubcomp'), `a PUBCOMP per PUBREL (${where})`).toBe(sent((p) => p.cmd === 'pubrel'));
  for (const ack of o.packets) {
    if (ack.cmd !== 'suback') continue;
    const subs = o.ref.packets.filter((p) => p.cmd === 'subscribe' && p.messageId === ack.messageId);
    if (subs.length === 1 && subs[0].cmd === 'subscribe') expect(ack.granted.length, `SUBACK ${ack.messageId}: one code per filter (${where})`).toBe(subs[0].subscriptions.length);
  }
}

function checkCodes(p: Packet, version: 4 | 5, where: string): void {
  const ok = (code: number | undefined, extra: number[] = []): boolean => code === undefined || V5_CODES.has(code) || extra.includes(code);
  switch (p.cmd) {
    case 'connack':
      if (version === 5) expect(ok(p.reasonCode), `CONNACK 0x${p.reasonCode?.toString(16)} (${where})`).toBe(true);
      else expect(V4_CONNACK.has(p.returnCode ?? -1), `3.1.1 CONNACK ${p.returnCode} (${where})`).toBe(true);
      return;
    case 'suback':
      for (const g of p.granted as number[]) expect(ok(g, [1, 2, 0x80]), `SUBACK 0x${g.toString(16)} (${where})`).toBe(true);
      return;
    case 'unsuback':
      for (const g of p.granted ?? []) expect(ok(g), `UNSUBACK 0x${g.toString(16)} (${where})`).toBe(true);
      return;
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
    case 'disconnect':
      expect(ok(p.reasonCode), `${p.cmd} 0x${p.reasonCode?.toString(16)} (${where})`).toBe(true);
      return;
    case 'publish':
    case 'pingresp':
      return;
    default:
      expect.fail(`the engine sent ${p.cmd} (${where})`);
  }
}

/**
 * Nothing stored that was not published: each new record is, byte for byte, a payload the stream
 * published to that area (each used once); a PUBACK 0x00 means stored; a refused PUBACK means not.
 */
function checkStored(o: MqttOutcome, where: string): void {
  const all = candidates(o.ref);
  const unique = (id: number): Candidate | undefined => {
    const same = all.filter((c) => c.qos > 0 && c.messageId === id);
    return same.length === 1 ? same[0] : undefined;
  };
  // PUBACK answers QoS 1, PUBREC QoS 2: either says stored (0x00) or not.
  const acks = o.packets.flatMap((p) => (p.cmd === 'puback' || p.cmd === 'pubrec' ? [{ c: unique(p.messageId!), code: p.reasonCode ?? 0 }] : []));
  const refused = new Set(acks.filter((a) => a.code !== 0 && a.c !== undefined).map((a) => a.c!));
  for (const [area, records] of o.stored) {
    const pool = all.filter((c) => c.area === area && !refused.has(c));
    for (const r of records) {
      const i = pool.findIndex((c) => c.payload.equals(Buffer.from(r.payload)));
      expect(i, `${area}@${r.offset} stored ${hex(r.payload).slice(0, 120)}: not a payload published there (${where})`).toBeGreaterThanOrEqual(0);
      pool.splice(i, 1);
      expectCarriable(area, r);
    }
  }
  for (const a of acks) {
    if (a.code !== 0 || a.c === undefined || a.c.clearsRetained) continue;
    const stored = o.stored.get(a.c.area) ?? [];
    expect(stored.some((r) => a.c!.payload.equals(Buffer.from(r.payload))), `PUBACK 0x00 for ${a.c.area} but nothing stored (${where})`).toBe(true);
  }
}

function summary(p: Packet): string {
  const code = 'reasonCode' in p && p.reasonCode !== undefined ? p.reasonCode : 'returnCode' in p ? p.returnCode : undefined;
  return code === undefined ? p.cmd : `${p.cmd}:0x${code.toString(16)}`;
}
