/**
 * The MQTT/TCP listener on real sockets (clients are node:net), run for both kinds of socket
 * (raw libuv handles, and the node:net fallback) so they keep behaving the same: every byte read arrives once,
 * in order, through ONE shared buffer; writes keep their order through corked writev and through
 * libuv's queue when the client stops reading; `drain` fires when that queue empties; end()
 * delivers what was queued before FIN; the peer's FIN and destroy() close exactly once.
 */
import { connect, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../../testing/harness.ts';
import { WRITE_BUFFERED, WRITE_DROPPED, WRITE_OK } from '../../areas/subscriber.ts';
import type { MqttConnection } from './connection.ts';
import type { RawTcpEvents } from './raw-tcp.ts';
import { listenTcp, type TcpListener } from './tcp-listen.ts';
import type { MqttTransport } from './transport.ts';

type T = MqttTransport & { owner: MqttConnection };

setFlagsFromString('--expose-gc');
/** A full GC on demand: a write libuv still holds must keep its bytes alive through it. */
const gc = runInNewContext('gc') as () => void;

/** Stands in for the MqttConnection: what the listener reports for one connection. */
interface Probe {
  t: T;
  got: Buffer[];
  arrays: Set<ArrayBufferLike>;
  drains: number;
  closes: number;
}

let listener: TcpListener | undefined;
const clients: Socket[] = [];

afterEach(() => {
  for (const c of clients.splice(0)) c.destroy();
  listener?.close();
  listener = undefined;
});

async function setup(kind: 'raw' | 'net', admit: () => boolean = () => true): Promise<{ port: number; probes: Probe[] }> {
  const probes: Probe[] = [];
  const probeOf = (owner: MqttConnection): Probe => owner as unknown as Probe;
  const events: RawTcpEvents = {
    admit,
    open: (t) => {
      const p: Probe = { t, got: [], arrays: new Set(), drains: 0, closes: 0 };
      t.owner = p as unknown as MqttConnection;
      probes.push(p);
    },
    bytes: (o, b) => {
      probeOf(o).arrays.add(b.buffer);
      probeOf(o).got.push(Buffer.from(b)); // transient: copy to keep
    },
    drain: (o) => probeOf(o).drains++,
    closed: (o) => probeOf(o).closes++,
    acceptError: () => undefined,
  };
  listener = await listenTcp({ host: '127.0.0.1', port: 0 }, kind, events);
  expect(listener.kind).toBe(kind);
  return { port: listener.port, probes };
}

/** A listener of `kind` with one client connected and accepted. */
async function oneConnection(kind: 'raw' | 'net'): Promise<{ c: Awaited<ReturnType<typeof client>>; probe: Probe; t: T }> {
  const { port, probes } = await setup(kind);
  const c = await client(port);
  await until('accepted', () => probes.length === 1);
  return { c, probe: probes[0], t: probes[0].t };
}

async function client(port: number): Promise<{ sock: Socket; received: () => Buffer }> {
  const sock = connect(port, '127.0.0.1');
  clients.push(sock);
  const chunks: Buffer[] = [];
  sock.on('data', (b: Buffer) => chunks.push(b));
  sock.on('error', () => undefined);
  await new Promise<void>((r) => sock.once('connect', r));
  return { sock, received: () => Buffer.concat(chunks) };
}

describe.each(['raw', 'net'] as const)('MQTT/TCP listener on %s sockets', (kind) => {
  it('reads every byte once, in order, through one shared buffer; its peer address is known', async () => {
    const { port, probes } = await setup(kind);
    const c1 = await client(port);
    const c2 = await client(port);
    await until('two accepted', () => probes.length === 2);
    const sent: Buffer[] = [];
    for (let i = 0; i < 50; i++) {
      const chunk = Buffer.alloc(1000 + i * 937, i);
      sent.push(chunk);
      c1.sock.write(chunk);
      c2.sock.write(chunk);
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    const total = sent.reduce((n, b) => n + b.length, 0);
    await until('all bytes', () => probes.every((p) => p.got.reduce((n, b) => n + b.length, 0) >= total));
    for (const p of probes) {
      expect(Buffer.concat(p.got).equals(Buffer.concat(sent))).toBe(true);
      expect(p.t.remoteAddress).toBe('127.0.0.1');
    }
    expect(new Set([...probes[0].arrays, ...probes[1].arrays]).size).toBe(1);
  });

  it('writes in order, corked writes in one go; a client that stops reading gets its writes queued, then drain', async () => {
    const { c, probe, t } = await oneConnection(kind);
    const expected: Buffer[] = [];
    const out = (b: Buffer): number => (expected.push(b), t.write(b));
    expect(out(Buffer.from('first '))).toBe(WRITE_OK);
    t.corked(() => {
      for (let i = 0; i < 20; i++) out(Buffer.from(`corked-${i} `));
      expect(t.buffered()).toBeGreaterThan(0); // what the cork holds counts against the budget
    });
    await until('small writes arrive', () => c.received().length === Buffer.concat(expected).length);
    c.sock.pause();
    let results = new Set<number>();
    for (let i = 0; i < 400 && !results.has(WRITE_BUFFERED); i++) results.add(out(Buffer.alloc(64 * 1024, i % 251)));
    expect(results.has(WRITE_BUFFERED)).toBe(true);
    expect(t.buffered()).toBeGreaterThan(0);
    // More while queued: they wait behind the queue, in order, in one writev.
    t.corked(() => {
      for (let i = 0; i < 5; i++) results.add(out(Buffer.alloc(1000, 7 + i)));
    });
    const drainsBefore = probe.drains;
    c.sock.resume();
    await until('everything arrives', () => c.received().length === Buffer.concat(expected).length);
    expect(c.received().equals(Buffer.concat(expected))).toBe(true);
    await until('drain', () => probe.drains > drainsBefore);
    expect(t.buffered()).toBe(0);
    results = new Set([t.write(Buffer.from('x'))]);
    expect(results.has(WRITE_OK)).toBe(true);
  });

  it("end(): queued bytes arrive before the FIN, then the socket closes once; later writes are dropped", async () => {
    const { c, probe, t } = await oneConnection(kind);
    c.sock.pause();
    const big = Buffer.alloc(4 * 1024 * 1024, 3);
    t.write(big);
    t.end();
    expect(t.write(Buffer.from('late'))).toBe(WRITE_DROPPED);
    expect(t.peerGone()).toBe(true);
    let ended = false;
    c.sock.on('end', () => {
      ended = true;
      c.sock.end(); // our FIN lets the server side close at once
    });
    c.sock.resume();
    await until('FIN after every byte', () => ended);
    expect(c.received().equals(big)).toBe(true);
    await until('closed', () => probe.closes === 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(probe.closes).toBe(1);
  });

  it("the peer's FIN closes the socket; destroy() closes it; each reports closed once", async () => {
    const { port, probes } = await setup(kind);
    const a = await client(port);
    await client(port);
    await until('accepted', () => probes.length === 2);
    a.sock.end();
    await until('peer FIN closes', () => probes[0].closes === 1);
    expect(probes[0].t.peerGone()).toBe(true);
    probes[1].t.destroy();
    probes[1].t.destroy();
    await until('destroy closes', () => probes[1].closes === 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(probes.map((p) => p.closes)).toEqual([1, 1]);
  });

  it('bytes of a pending write survive a full GC (the request keeps them, as net does)', async () => {
    const { c, t } = await oneConnection(kind);
    c.sock.pause();
    let total = 0;
    // Temporary buffers, referenced by nothing of ours once written; later ones queue in libuv.
    for (let i = 0; i < 64; i++) {
      t.write(Buffer.alloc(128 * 1024, i + 1));
      total += 128 * 1024;
    }
    t.corked(() => {
      for (let i = 0; i < 8; i++) (t.write(Buffer.alloc(4096, 200 + i)), (total += 4096));
    });
    expect(t.buffered()).toBeGreaterThan(0);
    gc();
    for (let i = 0; i < 64; i++) Buffer.alloc(128 * 1024, 0xee); // reuse what was freed, if anything was
    c.sock.resume();
    await until('all bytes', () => c.received().length >= total);
    const got = c.received();
    for (let i = 0; i < 64; i++) expect(got.subarray(i * 128 * 1024, (i + 1) * 128 * 1024).every((b) => b === i + 1)).toBe(true);
    for (let i = 0; i < 8; i++) expect(got.subarray(64 * 128 * 1024 + i * 4096, 64 * 128 * 1024 + (i + 1) * 4096).every((b) => b === 200 + i)).toBe(true);
  });

  it('a corked batch over 16 KiB that the kernel takes at once still reports drain (a write refused inside it waits for that)', async () => {
    const { c, probe, t } = await oneConnection(kind);
    const before = probe.drains;
    t.corked(() => {
      for (let i = 0; i < 4; i++) t.write(Buffer.alloc(8192, i));
    });
    await until('bytes', () => c.received().length === 4 * 8192);
    await until('drain', () => probe.drains > before);
  });

  it('end() inside corked(): what the call wrote arrives before the FIN', async () => {
    const { c, probe, t } = await oneConnection(kind);
    let ended = false;
    c.sock.on('end', () => ((ended = true), c.sock.end()));
    t.corked(() => {
      t.write(Buffer.from('disconnect-packet'));
      t.end();
    });
    await until('FIN', () => ended);
    expect(c.received().toString()).toBe('disconnect-packet');
    await until('closed', () => probe.closes === 1);
  });

  it("the peer's FIN with our writes still queued: they are delivered, then the socket closes once", async () => {
    const { c, probe, t } = await oneConnection(kind);
    c.sock.pause();
    const big = Buffer.alloc(4 * 1024 * 1024, 9);
    t.write(big);
    expect(t.buffered()).toBeGreaterThan(0);
    c.sock.end(); // half-close: the client still reads
    await new Promise((r) => setTimeout(r, 100));
    expect(probe.closes).toBe(0); // not before the queued bytes are out
    c.sock.resume();
    await until('closed', () => probe.closes === 1);
    await until('all bytes', () => c.received().length === big.length);
    expect(c.received().equals(big)).toBe(true);
  });

  it('admit() false closes a connection before it is opened', async () => {
    const { port, probes } = await setup(kind, () => false);
    const c = await client(port);
    await new Promise<void>((r) => c.sock.once('close', () => r()));
    expect(probes.length).toBe(0);
  });
});
