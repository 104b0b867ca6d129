/**
 * A fleet: three engine hosts A, B, C, each in its own network namespace with its own address
 * (engine/testing/netns.ts), all on one real Pulsar broker bound to the fleet's private bridge.
 * Publish through A, vehicles on B and C; kill -9 host B: its vehicles reconnect to C with their
 * (epoch, offset) and get exactly what they missed. Offsets are the same on every host, and each
 * host reads the area with ONE reader however many vehicles it serves (counted in the broker's
 * topic stats, where each reader carries its process's name).
 *
 * Recipe for a fleet by hand: README, "Pulsar" -> "A fleet of engine hosts".
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SPEC } from '../../scripts/pulsar/config.ts';
import { adminFor, startStandalone, stopStandalone, type Instance } from '../../scripts/pulsar/standalone.ts';
import { signHs256, TEST_HS_SECRET } from '../auth/testing.ts';
import { PulsarAdmin } from '../log/pulsar/admin.ts';
import { NO_BROKER_NOTICE, realBroker } from '../log/pulsar/testing/broker.ts';
import { areaTopic, parseNamespace } from '../log/pulsar/topic-names.ts';
import { createFleet, netnsUnavailable, type Fleet } from '../testing/netns.ts';
import { http, publish, sleep, spawnEngine, until, type ChildEngine } from '../testing/harness.ts';
import { Vehicle, type MessageFrame } from '../testing/vehicle.ts';

const AREA = 'city:fleet';
const NAMESPACE = 'public/default';
const noNetns = netnsUnavailable();
const haveBroker = realBroker() !== undefined;
if (!haveBroker) console.warn(`[pulsar fleet] ${NO_BROKER_NOTICE}`);
if (noNetns && process.env.ABE_REQUIRE_PULSAR === '1') throw new Error(`the fleet test needs network namespaces: ${noNetns}`);
if (noNetns) console.warn(`[pulsar fleet] SKIPPED: network namespaces unavailable (${noNetns})`);
const log = (line: string): void => console.error(`[pulsar fleet] ${line}`);

/** One vehicle across connections: what it received on earlier connections, then on the current one. */
class Driver {
  private earlier: MessageFrame[] = [];
  v: Vehicle | undefined;
  epoch = '';

  /** Connects to `host` and subscribes, resuming after the last offset received anywhere. */
  async attach(host: ChildEngine, token: string): Promise<Record<string, unknown>> {
    if (this.v) this.earlier = this.received();
    const last = this.earlier.at(-1)?.offset;
    this.v = await Vehicle.connect(host.wsUrl, { token });
    const sub = await this.v.subscribe(AREA, last !== undefined ? { epoch: this.epoch, offset: last } : undefined);
    this.epoch = sub.epoch as string;
    return sub;
  }

  received(): MessageFrame[] {
    return [...this.earlier, ...(this.v?.messages(AREA) ?? [])];
  }

  offsets(): number[] {
    return this.received().map((m) => m.offset);
  }
}

describe.skipIf(!haveBroker || noNetns !== undefined)('a fleet of engine hosts on one Pulsar', { timeout: 240_000 }, () => {
  let fleet: Fleet;
  let broker: Instance;
  const hosts: ChildEngine[] = [];
  const dirs: string[] = [];

  beforeAll(async () => {
    fleet = createFleet(3);
    broker = await startStandalone({ ...DEFAULT_SPEC, name: 'fleet', bindAddress: fleet.gateway, interface: fleet.bridge, brokerPort: 6670, webPort: 8101, bookiePort: 3201 }, log, { fresh: true });
    for (const h of fleet.hosts) {
      const dir = await mkdtemp(join(tmpdir(), 'abe-fleet-'));
      dirs.push(dir);
      const flags = ['--auth-hs-secret', TEST_HS_SECRET, '--workers', '1', '--log', 'pulsar', '--pulsar-client', 'websocket', '--pulsar-web-url', broker.webServiceUrl, '--pulsar-token-file', broker.engineTokenFile, '--pulsar-namespace', NAMESPACE];
      hosts.push(await spawnEngine(dir, flags, { host: h.ip, netns: h.netns }));
    }
  }, 240_000);

  afterAll(async () => {
    for (const h of hosts) {
      if (h.proc.exitCode === null && h.proc.signalCode === null) h.proc.kill('SIGTERM');
      await h.exited;
    }
    await stopStandalone('fleet', log);
    fleet?.teardown();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }, 60_000);

  /** Readers of the area topic per host process (the broker's view). */
  async function areaReaders(): Promise<Map<number, number>> {
    const admin = adminFor(broker);
    const stats = await admin.get<{ subscriptions: Record<string, { consumers: { consumerName: string }[] }> }>(PulsarAdmin.topicUrl(areaTopic(parseNamespace(NAMESPACE), AREA), '/stats'));
    const perPid = new Map<number, number>();
    for (const sub of Object.values(stats.subscriptions)) {
      for (const c of sub.consumers) {
        const m = /^abe-.*-(\d+)-[0-9a-f]{6}-area$/.exec(c.consumerName);
        if (m) perPid.set(Number(m[1]), (perPid.get(Number(m[1])) ?? 0) + 1);
      }
    }
    return perPid;
  }

  it('publish through A, vehicles on B and C; kill -9 B: its vehicles resume on C with exactly what they missed; one reader per host', async () => {
    const [a, b, c] = hosts as [ChildEngine, ChildEngine, ChildEngine];
    const publisher = await signHs256({ sub: 'ops', subscribe: [], publish: ['city:*'] });
    const vehicleToken = await signHs256({ sub: 'car', subscribe: ['city:*'], publish: [] });
    const onB = Array.from({ length: 10 }, () => new Driver());
    const onC = Array.from({ length: 10 }, () => new Driver());
    for (const d of onB) await d.attach(b, vehicleToken);
    for (const d of onC) await d.attach(c, vehicleToken);

    let n = 0;
    const send = async (): Promise<void> => {
      const r = await publish(a.base, AREA, { n: ++n }, { token: publisher });
      expect(r.status).toBe(201);
    };
    for (let i = 0; i < 20; i++) await send();
    for (const d of [...onB, ...onC]) await d.v!.waitOffset(AREA, 20, 20_000);

    // The same offsets, epoch and payloads on every host.
    const infos = await Promise.all([a, b, c].map(async (h) => (await http(h.base, `/v1/areas/${AREA}`, { headers: { authorization: `Bearer ${vehicleToken}` } })).body as { epoch: string; head: number }));
    expect(new Set(infos.map((i) => i.epoch)).size).toBe(1);
    expect(infos.map((i) => i.head)).toEqual([20, 20, 20]);
    const pairs = (d: Driver): string[] => d.received().map((m) => `${m.offset}:${JSON.stringify(m.data)}`);
    expect(pairs(onB[0]!)).toEqual(pairs(onC[0]!));
    expect(onB[0]!.epoch).toBe(infos[0]!.epoch);

    // One reader per host for the area, whatever its vehicle count.
    await until('one area reader on each of A, B, C', async () => {
      const r = await areaReaders();
      return [a, b, c].every((h) => r.get(h.proc.pid!) === 1) && r.size === 3;
    }, 10_000);

    // kill -9 B while A keeps publishing; B's vehicles come back on C with (epoch, offset).
    let publishing = true;
    const loop = (async () => {
      while (publishing) {
        await send();
        await sleep(20);
      }
    })();
    await sleep(300);
    b.proc.kill('SIGKILL');
    await b.exited;
    for (const d of onB) await d.v!.waitClose();
    const resumed = await Promise.all(onB.map((d) => d.attach(c, vehicleToken)));
    for (const r of resumed) expect(r).toMatchObject({ type: 'subscribed', recovered: true });
    await sleep(300);
    publishing = false;
    await loop;
    const head = n;
    for (const d of [...onB, ...onC]) await d.v!.waitOffset(AREA, head, 20_000);
    for (const d of [...onB, ...onC]) expect(d.offsets()).toEqual(Array.from({ length: head }, (_, i) => i + 1));
    expect(pairs(onB[3]!)).toEqual(pairs(onC[3]!));

    // C now serves all 20 vehicles, still with one reader; B's reader is gone with B.
    await until('A and C one reader each, B none', async () => {
      const r = await areaReaders();
      return r.get(a.proc.pid!) === 1 && r.get(c.proc.pid!) === 1 && !r.has(b.proc.pid!);
    }, 15_000);
    log(`fleet run: ${head} messages, 10 vehicles moved from B to C after kill -9, 0 lost, 0 duplicated`);
  });
});
