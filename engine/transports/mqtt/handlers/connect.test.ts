/**
 * The takeover race [issue 14]: a client whose first CONNECT is slow to authenticate gives up and
 * connects again; when the first CONNECT's authentication finally completes, it must not take over
 * the newer, live connection (it is refused with 0x8E instead). The order in which the connections
 * were accepted is what counts, whatever the order their CONNECTs are read or authenticated in:
 * the Authenticator double here completes them in any order.
 */
import { generate, parser as createParser, type Packet } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { Compressor, DEFAULT_COMPRESSION } from '../../../areas/compression.ts';
import type { CounterLike } from '../../../areas/metrics.ts';
import type { AreaRegistry } from '../../../areas/registry.ts';
import type { AreaService } from '../../../areas/service.ts';
import { FormatTable } from '../../../areas/encoding.ts';
import type { Authenticator, Principal } from '../../../auth/types.ts';
import { createLogger } from '../../../logger.ts';
import { MemorySessionStore } from '../../../sessions/memory.ts';
import { Admission } from '../../shared/admission.ts';
import { WRITE_OK } from '../../../areas/subscriber.ts';
import { MqttConnection } from '../connection.ts';
import type { MqttContext } from '../context.ts';
import { dispatchPacket } from '../dispatch.ts';
import { registerMqttFormats } from '../encoders.ts';
import { sessionGone } from '../session-gone.ts';
import type { MqttTransport } from '../transport.ts';
import { WildcardDirectory } from '../wildcards.ts';

const principal: Principal = { subject: 'car-1', expiresAt: 0, canSubscribe: () => true, canPublish: () => true, canOperate: () => false };

/** authenticate() resolves only when the test says so, in any order. */
class HeldAuth implements Authenticator {
  readonly enabled = false;
  readonly waiting: (() => void)[] = [];
  authenticate(): Promise<Principal> {
    return new Promise((resolve) => this.waiting.push(() => resolve(principal)));
  }
}

class FakeTransport implements MqttTransport {
  readonly kind = 'mqtt' as const;
  readonly remoteAddress = '127.0.0.1';
  readonly packets: Packet[] = [];
  ended = false;
  /** The peer closed its side (EOF read) before the engine got to the CONNECT. */
  peerClosed = false;
  private readonly parser = createParser({ protocolVersion: 5 });
  constructor() {
    this.parser.on('packet', (p: Packet) => this.packets.push(p));
  }
  write(bytes: Uint8Array): number {
    this.parser.parse(Buffer.from(bytes));
    return WRITE_OK;
  }
  buffered(): number {
    return 0;
  }
  peerGone(): boolean {
    return this.ended || this.peerClosed;
  }
  corked(fn: () => void): void {
    fn();
  }
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.ended = true;
  }
}

const counter: CounterLike = { inc: () => undefined };

const compressor = new Compressor(DEFAULT_COMPRESSION);

function context(auth: Authenticator): MqttContext {
  const logger = createLogger('silent');
  return {
    areas: {} as AreaRegistry,
    service: {} as AreaService,
    auth,
    sessions: new MemorySessionStore(),
    formats: registerMqttFormats(new FormatTable(), compressor),
    compressor,
    settings: {
      maxPacketBytes: 65_536,
      maxPayloadBytes: 60_000,
      inflightWindow: 16,
      receiveMaximum: 16,
      sessionExpiryMaxSeconds: 3600,
      checkpointMs: 5000,
      keepaliveMaxSeconds: 600,
      maxSubscriptions: 8,
      maxPacketsPerSecond: 1000,
      maxBackpressureBytes: 1 << 20,
      maxConnections: 100,
      tcpSockets: 'raw',
      connectTimeoutMs: 10_000,
    },
    metrics: {
      badInput: () => counter,
      disconnects: () => counter,
      sessionsResumed: counter,
      retainedSent: counter,
      oversizeSkipped: counter,
      acks: counter,
      subscribes: counter,
      recoveredFalse: counter,
      subscriptions: { inc: () => undefined, dec: () => undefined },
      connections: () => ({ inc: () => undefined, dec: () => undefined }),
      httpErrors: () => counter,
    },
    logger,
    now: Date.now,
    live: new Map(),
    connectionCount: () => 0,
    admission: new Admission({ maxConnectRate: 0, flapping: { maxConnects: 0, windowMs: 60_000, banMs: 1000, by: [] } }, { refused: () => undefined, banned: () => undefined }, logger),
    delayedWills: new Map(),
    wildcards: new WildcardDirectory(new Set()),
    shared: new Map(),
  };
}

const CONNECT = generate({ cmd: 'connect', protocolVersion: 5, clientId: 'car-1', clean: true, keepalive: 0 }, { protocolVersion: 5 });

/** A connection accepted now; it sends its CONNECT now unless `silent`. */
function open(ctx: MqttContext, silent = false): { conn: MqttConnection; t: FakeTransport } {
  const t = new FakeTransport();
  const conn = new MqttConnection(ctx, t, (c, p) => dispatchPacket(ctx, c, p), (c) => sessionGone(ctx, c));
  if (!silent) conn.onBytes(CONNECT);
  return { conn, t };
}

// Two turns: a takeover waits one setImmediate for the sockets' pending events (connect.ts).
const settle = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
};

describe('CONNECT takeover', () => {
  it('a CONNECT that arrived earlier but authenticated later does not take over the newer connection: it gets 0x8E', async () => {
    const auth = new HeldAuth();
    const ctx = context(auth);
    const stale = open(ctx);
    const fresh = open(ctx);
    auth.waiting[1](); // the newer CONNECT authenticates first
    await settle();
    expect(fresh.t.packets[0]).toMatchObject({ cmd: 'connack', reasonCode: 0 });
    auth.waiting[0](); // then the abandoned one
    await settle();
    expect(stale.t.packets[0]).toMatchObject({ cmd: 'connack', reasonCode: 0x8e });
    expect(stale.t.ended).toBe(true);
    expect(fresh.conn.state).toBe('connected');
    expect(fresh.t.ended).toBe(false);
    expect(ctx.live.get('car-1')).toBe(fresh.conn);
  });

  it('a connection accepted earlier whose CONNECT is read after the newer one is live gets 0x8E, and takes nothing over', async () => {
    const auth = new HeldAuth();
    const ctx = context(auth);
    const stale = open(ctx, true); // accepted first; its CONNECT is read late (a slow or abandoned attempt)
    const fresh = open(ctx);
    auth.waiting[0]();
    await settle();
    expect(fresh.t.packets[0]).toMatchObject({ cmd: 'connack', reasonCode: 0 });
    stale.conn.onBytes(CONNECT);
    auth.waiting[1]();
    await settle();
    expect(stale.t.packets[0]).toMatchObject({ cmd: 'connack', reasonCode: 0x8e });
    expect(fresh.t.packets.map((p) => p.cmd)).toEqual(['connack']);
    expect(fresh.conn.state).toBe('connected');
    expect(ctx.live.get('car-1')).toBe(fresh.conn);
  });

  it('a CONNECT that arrived later takes over the older connection [MQTT-3.1.4-3]', async () => {
    const auth = new HeldAuth();
    const ctx = context(auth);
    const older = open(ctx);
    auth.waiting[0]();
    await settle();
    const newer = open(ctx);
    auth.waiting[1]();
    await settle();
    expect(older.t.packets.map((p) => [p.cmd, 'reasonCode' in p ? p.reasonCode : undefined])).toEqual([['connack', 0], ['disconnect', 0x8e]]);
    expect(newer.t.packets[0]).toMatchObject({ cmd: 'connack', reasonCode: 0 });
    expect(ctx.live.get('car-1')).toBe(newer.conn);
  });

  it('a CONNECT whose socket the client already closed (an abandoned attempt, read just before its EOF) takes nothing over', async () => {
    const auth = new HeldAuth();
    const ctx = context(auth);
    const live = open(ctx);
    auth.waiting[0]();
    await settle();
    const abandoned = open(ctx);
    abandoned.t.peerClosed = true; // its EOF is read right after the CONNECT
    auth.waiting[1]();
    await settle();
    await settle();
    expect(live.t.packets.map((p) => p.cmd)).toEqual(['connack']);
    expect(live.conn.state).toBe('connected');
    expect(abandoned.t.packets).toEqual([]);
    expect(abandoned.conn.closed).toBe(true);
    expect(ctx.live.get('car-1')).toBe(live.conn);
  });
});
