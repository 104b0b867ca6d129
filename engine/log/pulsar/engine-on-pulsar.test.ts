/**
 * The whole engine (areas, REST, WebSocket) on PulsarLog, through startEngine's `overrides.log`:
 * two engines on one (in-memory) Pulsar stand for two hosts serving one city.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config.ts';
import { createLogger } from '../../logger.ts';
import { startEngine, type Engine } from '../../server.ts';
import { http, publish } from '../../testing/harness.ts';
import { Vehicle } from '../../testing/vehicle.ts';
import { waitUntil } from '../contract-support.ts';
import { PulsarLog } from './pulsar-log.ts';
import { baseOptions, doubleCluster, type DoubleCluster } from './testing/harness.ts';

let c: DoubleCluster;
const engines: Engine[] = [];
const vehicles: Vehicle[] = [];
afterEach(async () => {
  for (const v of vehicles.splice(0)) v.terminate();
  for (const e of engines.splice(0)) await e.close();
  await c.closeAll();
});

async function host(extra: Parameters<typeof baseOptions>[1] = {}): Promise<{ base: string; ws: string; log: PulsarLog }> {
  const parsed = parseConfig(['--host', '127.0.0.1', '--port', '0', '--mqtt-port', '0', '--max-connections', '100'], {});
  if (!('config' in parsed)) throw new Error('help');
  const log = new PulsarLog(baseOptions(c.pulsar, { onError: c.sink.onError, sweepMs: 50, ...extra }));
  const engine = await startEngine(parsed.config, createLogger('silent'), { log });
  engines.push(engine);
  return { base: `http://127.0.0.1:${engine.port}`, ws: `ws://127.0.0.1:${engine.port}/v1/ws`, log };
}

async function vehicle(ws: string): Promise<Vehicle> {
  const v = await Vehicle.connect(ws);
  vehicles.push(v);
  return v;
}

describe('engine on Pulsar', () => {
  it('publish on one host, deliver on another, resume anywhere with the same offsets', async () => {
    c = doubleCluster();
    const [a, b] = [await host(), await host()];
    const onB = await vehicle(b.ws);
    const sub = await onB.subscribe('city:d7');
    expect(sub).toMatchObject({ type: 'subscribed', offset: 0 });
    const r1 = await publish(a.base, 'city:d7', { kind: 'road-damage', lane: 2 });
    expect(r1.status).toBe(201);
    expect(r1.body).toMatchObject({ offset: 1, duplicate: false, epoch: sub.epoch });
    const foreign = await c.foreignClient().createProducer({ topic: c.topic('city:d7'), batchingEnabled: false });
    await foreign.send({ data: Buffer.from(JSON.stringify({ from: 'camera' })), properties: { 'abe-content-type': 'json' } });
    await onB.waitOffset('city:d7', 2);
    expect(onB.messages('city:d7').map((m) => [m.offset, m.data])).toEqual([
      [1, { kind: 'road-damage', lane: 2 }],
      [2, { from: 'camera' }],
    ]);
    await publish(b.base, 'city:d7', { n: 3 });
    const onA = await vehicle(a.ws);
    const resumed = await onA.subscribe('city:d7', { epoch: sub.epoch as string, offset: 1 });
    expect(resumed).toMatchObject({ recovered: true });
    await onA.waitOffset('city:d7', 3);
    expect(onA.messages('city:d7').map((m) => m.offset)).toEqual([2, 3]);
  });

  it('answers 503 on /readyz and on publishes while Pulsar is down, then recovers', async () => {
    c = doubleCluster({}, { sendTimeoutMs: 100 });
    const a = await host();
    expect((await publish(a.base, 'o', { n: 1 })).status).toBe(201);
    expect((await http(a.base, '/readyz')).status).toBe(200);
    c.broker.stop();
    expect((await http(a.base, '/readyz')).status).toBe(503);
    const during = await publish(a.base, 'o', { n: 2 });
    expect(during.status).toBe(503);
    expect(during.body).toMatchObject({ code: 'log_unavailable' });
    c.broker.start();
    await waitUntil(() => a.log.healthy(), 'recovery', 5000);
    expect((await http(a.base, '/readyz')).status).toBe(200);
    expect((await publish(a.base, 'o', { n: 3 })).body).toMatchObject({ offset: 2 });
  });
});
