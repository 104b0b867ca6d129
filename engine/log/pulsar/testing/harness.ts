/**
 * Test helpers for PulsarLog: contract-suite factories on the in-memory double (./fake-*.ts) and on
 * a real broker (./broker.ts), plus small utilities for the Pulsar-specific suites.
 */
import { ManualClock, waitUntil, type LogFactory, type LogTestOptions } from '../../contract-support.ts';
import type { AppendRequest } from '../../types.ts';
import type { Client } from '../client-api.ts';
import { decodeMessageId, type IdParts } from '../message-id.ts';
import type { PulsarLogOptions, PulsarModule } from '../options.ts';
import { websocketModule } from '../websocket/client.ts';
import { testNamespace, type RealBroker } from './broker.ts';
import { PulsarLog } from '../pulsar-log.ts';
import { escapeArea } from '../topic-names.ts';
import { FakeBroker, type FakeBrokerOptions } from './fake-broker.ts';
import { fakePulsarModule } from './fake-client.ts';

export const NAMESPACE = 'public/default';
export const SERVICE_URL = 'pulsar://double.invalid:6650';

/** Errors PulsarLog reported through onError, per harness (tests assert on them). */
export interface ErrorSink {
  readonly errors: { error: unknown; where: string }[];
  onError(error: unknown, where: string): void;
}

export function errorSink(): ErrorSink {
  const errors: { error: unknown; where: string }[] = [];
  return { errors, onError: (error, where) => errors.push({ error, where }) };
}

export function baseOptions(pulsar: PulsarModule, extra: Partial<PulsarLogOptions> = {}): PulsarLogOptions {
  return {
    pulsar,
    client: { serviceUrl: SERVICE_URL },
    namespace: NAMESPACE,
    retention: { maxCount: 0, maxAgeMs: 0 },
    idempotencyTtlMs: 86_400_000,
    catchUpIdleMs: 15,
    sweepMs: 0,
    sendTimeoutMs: 2000,
    backoffMs: { initial: 10, max: 100 },
    ...extra,
  };
}

function withTestOptions(o: LogTestOptions): Partial<PulsarLogOptions> {
  return {
    ...(o.retention ? { retention: o.retention } : {}),
    ...(o.idempotencyTtlMs !== undefined ? { idempotencyTtlMs: o.idempotencyTtlMs } : {}),
  };
}

export interface DoubleHarnessSetup {
  readonly broker?: FakeBrokerOptions & { readonly deduplication?: boolean };
  readonly log?: Partial<PulsarLogOptions>;
  readonly sink?: ErrorSink;
}

/** Contract factory: a fresh in-memory broker per test; the store is its `public/default`. */
export function doubleFactory(setup: DoubleHarnessSetup = {}): LogFactory {
  return () => {
    const broker = new FakeBroker(setup.broker);
    if (setup.broker?.deduplication) broker.setDeduplication(NAMESPACE, true);
    const pulsar = fakePulsarModule(broker);
    const clock = new ManualClock();
    const make = async (o: LogTestOptions = {}) =>
      new PulsarLog(
        baseOptions(pulsar, {
          now: () => clock.now(),
          onError: setup.sink?.onError ?? (() => {}),
          ...setup.log,
          ...withTestOptions(o),
        }),
      );
    return { clock, create: make, recreate: make, applyRetention: (log) => (log as PulsarLog).sweep(), cleanup: async () => {} };
  };
}

/**
 * Contract factory against a real broker (./broker.ts): each test gets its own namespace
 * `public/abe-test-<random>`, set up as the engine needs (retention, deduplication, a grant for the
 * engine's role) through the admin API, and deleted afterwards. The log connects with `module`
 * (the WebSocket client here; the native one where libpulsar exists) and the engine role's token.
 */
export function brokerFactory(b: RealBroker, module: PulsarModule = websocketModule): LogFactory {
  const serviceUrl = module.kind === 'native' ? (b.serviceUrl ?? b.webUrl) : b.webUrl;
  return async () => {
    const ns = await testNamespace(b);
    const clock = new ManualClock(Date.now());
    const logs: PulsarLog[] = [];
    const make = async (o: LogTestOptions = {}) => {
      const log = new PulsarLog(
        baseOptions(module, {
          client: { serviceUrl, token: b.engineToken },
          namespace: ns.namespace,
          catchUpIdleMs: 300,
          sendTimeoutMs: 10_000,
          sweepMs: 0,
          now: () => clock.now(),
          ...withTestOptions(o),
        }),
      );
      logs.push(log);
      return log;
    };
    return {
      clock,
      create: make,
      recreate: make,
      applyRetention: (log) => (log as PulsarLog).sweep(),
      cleanup: async () => {
        for (const l of logs.splice(0)) await l.close().catch(() => {});
        await ns.drop();
      },
    };
  };
}

export function req(text: string, extra: Partial<AppendRequest> = {}): AppendRequest {
  return { payload: Buffer.from(text), contentType: 'binary', time: Date.now(), expiresAt: 0, ...extra };
}

/** Several engine "processes" (PulsarLog instances) and foreign clients on one in-memory broker. */
export interface DoubleCluster {
  readonly broker: FakeBroker;
  readonly pulsar: ReturnType<typeof fakePulsarModule>;
  readonly sink: ErrorSink;
  open(extra?: Partial<PulsarLogOptions>): Promise<PulsarLog>;
  /** A client that is not the engine (any other service producing into area topics). */
  foreignClient(): ReturnType<ReturnType<typeof fakePulsarModule>['createClient']>;
  topic(area: string): string;
  /** The first `count` messages stored in `topic` (waits for them). */
  messages(topic: string, count: number): Promise<TopicMessage[]>;
  closeAll(): Promise<void>;
}

/** A message as a test inspects it, from the double's store or read from the real broker. */
export interface TopicMessage {
  readonly id: IdParts;
  readonly properties: Readonly<Record<string, string>>;
  readonly data: Buffer;
}

export function doubleCluster(options: FakeBrokerOptions & { readonly deduplication?: boolean } = {}, defaults: Partial<PulsarLogOptions> = {}): DoubleCluster {
  const broker = new FakeBroker(options);
  if (options.deduplication) broker.setDeduplication(NAMESPACE, true);
  const pulsar = fakePulsarModule(broker);
  const sink = errorSink();
  const logs: PulsarLog[] = [];
  const clients: { close(): Promise<unknown> }[] = [];
  return {
    broker,
    pulsar,
    sink,
    async open(extra = {}) {
      const log = new PulsarLog(baseOptions(pulsar, { onError: sink.onError, ...defaults, ...extra }));
      logs.push(log);
      await log.open();
      return log;
    },
    foreignClient() {
      const c = pulsar.createClient({ serviceUrl: SERVICE_URL });
      clients.push(c);
      return c;
    },
    topic: (area) => `persistent://${NAMESPACE}/area-${escapeArea(area)}`,
    async messages(topic, count) {
      await waitUntil(() => broker.stored(topic).length >= count, `${count} messages in ${topic}`);
      return broker.stored(topic).slice(0, count).map((m) => ({ id: m.id.parts, properties: m.properties, data: m.data }));
    },
    async closeAll() {
      for (const l of logs.splice(0)) await l.close().catch(() => {});
      for (const c of clients.splice(0)) await c.close().catch(() => {});
    },
  };
}

/** Several engine "processes" (PulsarLog instances) and foreign clients on the REAL broker, in a namespace of their own. */
export interface RealCluster {
  readonly namespace: string;
  readonly sink: ErrorSink;
  open(extra?: Partial<PulsarLogOptions>): Promise<PulsarLog>;
  /** A client that is not the engine, with the engine role's token (produce + consume). */
  foreignClient(): Client;
  topic(area: string): string;
  /** The first `count` messages of `topic`, read with a plain reader from the start. */
  messages(topic: string, count: number): Promise<TopicMessage[]>;
  closeAll(): Promise<void>;
}

export async function realCluster(b: RealBroker, defaults: Partial<PulsarLogOptions> = {}): Promise<RealCluster> {
  const ns = await testNamespace(b);
  const sink = errorSink();
  const logs: PulsarLog[] = [];
  const clients: Client[] = [];
  const client = { serviceUrl: b.webUrl, token: b.engineToken };
  const foreignClient = (): Client => {
    const c = websocketModule.createClient(client);
    clients.push(c);
    return c;
  };
  return {
    namespace: ns.namespace,
    sink,
    async open(extra = {}) {
      const log = new PulsarLog(baseOptions(websocketModule, { client, namespace: ns.namespace, catchUpIdleMs: 300, sendTimeoutMs: 10_000, onError: sink.onError, ...defaults, ...extra }));
      logs.push(log);
      await log.open();
      return log;
    },
    foreignClient,
    topic: (area) => `persistent://${ns.namespace}/area-${escapeArea(area)}`,
    async messages(topic, count) {
      const got: TopicMessage[] = [];
      const reader = await foreignClient().createReader({ topic, startMessageId: websocketModule.MessageId.earliest(), listener: (m) => void got.push({ id: decodeMessageId(m.getMessageId().serialize()), properties: m.getProperties(), data: m.getData() }) });
      try {
        await waitUntil(() => got.length >= count, `${count} messages on ${topic}`, 15_000);
      } finally {
        await reader.close();
      }
      return got.slice(0, count);
    },
    async closeAll() {
      for (const l of logs.splice(0)) await l.close().catch(() => {});
      for (const c of clients.splice(0)) await c.close().catch(() => {});
      await ns.drop();
    },
  };
}
