/**
 * Faults against a REAL broker of its own (instance "faults", scripts/pulsar/standalone.ts): this
 * file kills and restarts it, so it never touches the broker the other suites share.
 *
 * - kill -9 the broker in the middle of a publish burst, restart it: the engine reconnects by
 *   itself, /readyz says 503 log_unavailable meanwhile, every publish answered 201 is in the log with
 *   its payload, and vehicles keep their connections and get every offset once, in order.
 * - the broker down when the engine starts: the engine starts, is not ready, and serves once the
 *   broker comes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SPEC } from '../../../scripts/pulsar/config.ts';
import { startStandalone, stopStandalone, type Instance } from '../../../scripts/pulsar/standalone.ts';
import { http, publish, sleep, startTestEngine, until, type TestEngine } from '../../testing/harness.ts';
import type { Vehicle } from '../../testing/vehicle.ts';
import { NO_BROKER_NOTICE, realBroker } from './testing/broker.ts';

const SPEC = { ...DEFAULT_SPEC, name: 'faults', brokerPort: 6660, webPort: 8091, bookiePort: 3191 };
const haveBroker = realBroker() !== undefined;
if (!haveBroker) console.warn(`[pulsar faults] ${NO_BROKER_NOTICE}`);
const log = (line: string): void => console.error(`[pulsar faults] ${line}`);

let inst: Instance;
const engines: TestEngine[] = [];

function engineFlags(i: Instance): string[] {
  return ['--log', 'pulsar', '--pulsar-client', 'websocket', '--pulsar-web-url', i.webServiceUrl, '--pulsar-token-file', i.engineTokenFile, '--sweep-interval-ms', '100'];
}

async function engine(): Promise<TestEngine> {
  const t = await startTestEngine(engineFlags(inst));
  engines.push(t);
  return t;
}

describe.skipIf(!haveBroker)('engine on a real Pulsar broker that fails', { timeout: 180_000 }, () => {
  beforeAll(async () => {
    inst = await startStandalone(SPEC, log, { fresh: true });
  }, 240_000);

  afterAll(async () => {
    for (const e of engines.splice(0)) await e.stop();
    await stopStandalone(SPEC.name, log);
  }, 60_000);

  it('kill -9 mid-burst and restart: no acknowledged publish lost, vehicles keep their sockets and get every message once, in order', async () => {
    const t = await engine();
    const area = 'faults:burst';
    const vehicles: Vehicle[] = [await t.connect(), await t.connect({ protocol: 'v1.msgpack' })];
    for (const v of vehicles) await v.subscribe(area);

    // Three publishers that never stop: one publish after another each, every answer recorded.
    const acked = new Map<number, string>(); // offset -> payload id
    const refused: string[] = [];
    let stop = false;
    const publisher = async (p: number): Promise<void> => {
      for (let i = 1; !stop; i++) {
        const id = `${p}-${i}`;
        const r = await publish(t.base, area, { id });
        if (r.status === 201) acked.set(r.body.offset as number, id);
        else {
          expect(r.status).toBe(503);
          expect(r.body.code).toBe('log_unavailable');
          refused.push(id);
          await sleep(50);
        }
      }
    };
    const publishers = Promise.all([1, 2, 3].map(publisher));

    await until('a burst before the kill', () => acked.size >= 40, 30_000);
    await stopStandalone(SPEC.name, log, { kill9: true });
    const killedAt = Date.now();
    const notReady = await until('/readyz 503 while the broker is dead', async () => {
      const r = await http(t.base, '/readyz');
      return r.status === 503 ? r : undefined;
    }, 15_000);
    expect(notReady.body).toMatchObject({ code: 'log_unavailable', log: 'unavailable' });

    inst = await startStandalone(SPEC, log);
    await until('/readyz 200 again', async () => (await http(t.base, '/readyz')).status === 200, 60_000, 100);
    const recoveredMs = Date.now() - killedAt;
    const before = acked.size;
    await until('publishes answered 201 again', () => acked.size >= before + 40, 60_000);
    stop = true;
    await publishers;

    // Every 201 is in the log, at its offset, with its payload.
    const head = Math.max(...acked.keys());
    const history: { offset: number; data: { id: string } }[] = [];
    for (let from = 1; from <= head; ) {
      const page = await http(t.base, `/v1/areas/${area}/messages?from=${from}&limit=1000`);
      expect(page.status).toBe(200);
      history.push(...(page.body.messages as { offset: number; data: { id: string } }[]));
      from = page.body.next as number;
      if (page.body.messages.length === 0) break;
    }
    const byOffset = new Map(history.map((m) => [m.offset, m.data.id]));
    for (const [offset, id] of acked) expect(byOffset.get(offset)).toBe(id);

    // Vehicles never lost their sockets and got every message of the log, once, in order. Offsets
    // may jump: a send the producer re-sent after the broker came back, although the first copy had
    // been persisted, is a second entry every reader tombstones (README, "Two clients").
    const deliverable = history.map((m) => m.offset);
    expect(deliverable).toEqual([...new Set(deliverable)].sort((x, y) => x - y));
    const last = deliverable.at(-1)!;
    for (const v of vehicles) {
      await v.waitOffset(area, last, 30_000);
      expect(v.closeInfo).toBeUndefined();
      expect(v.offsets(area)).toEqual(deliverable);
    }
    const info = await http(t.base, `/v1/areas/${area}`);
    const tombstoned = (info.body.head as number) - deliverable.length;
    expect(tombstoned).toBeLessThanOrEqual(3); // at most the sends in flight at the kill (one per publisher), re-sent
    log(`kill -9 run: ${acked.size} publishes answered 201, ${refused.length} answered 503, head ${info.body.head as number} of which ${tombstoned} re-sent copies (tombstoned), ready again ${recoveredMs} ms after the kill`);
  });

  it('broker down at engine start: the engine starts not ready and serves once the broker comes', async () => {
    await stopStandalone(SPEC.name, log);
    const t = await engine();
    const r = await http(t.base, '/readyz');
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ code: 'log_unavailable' });
    const refused = await publish(t.base, 'faults:late', { n: 0 });
    expect(refused.status).toBe(503);
    expect(refused.body.code).toBe('log_unavailable');
    expect(refused.body.message).toMatch(/not open yet: Pulsar at http:\/\/127\.0\.0\.1:8091 is not reachable/);

    inst = await startStandalone(SPEC, log);
    await until('the engine ready once the broker is up', async () => (await http(t.base, '/readyz')).status === 200, 60_000, 100);
    const v = await t.connect();
    await v.subscribe('faults:late');
    const ok = await publish(t.base, 'faults:late', { n: 1 });
    expect(ok.status).toBe(201);
    await v.waitOffset('faults:late', ok.body.offset as number);
  });
});
