/**
 * End to end with Debian's mosquitto_sub / mosquitto_pub (mosquitto-clients 2.0.11, installed by
 * .ci/run): the issue's own command line (a persistent QoS 1 session that disconnects and gets what
 * it missed on reconnect), publishing, retained messages, refusals. Skipped when the clients are
 * not installed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signHs256, TEST_HS_SECRET } from '../auth/testing.ts';
import { range, sleep, startTestEngine, until, type TestEngine } from '../testing/harness.ts';
import { hasMosquittoClients, Rest, spawnClient, type Spawned } from './mqtt-support.ts';

const tok = (sub: string, subscribe: string[], publish: string[] = []) => signHs256({ sub, subscribe, publish });

describe.skipIf(!hasMosquittoClients())('mosquitto clients', () => {
  let t: TestEngine;
  let rest: Rest;
  const running: Spawned[] = [];
  const common = () => ['-h', '127.0.0.1', '-p', String(t.mqttPort)];
  const sub = (args: string[]) => {
    const s = spawnClient('mosquitto_sub', [...common(), ...args]);
    running.push(s);
    return s;
  };
  const pub = async (args: string[]) => {
    const p = spawnClient('mosquitto_pub', [...common(), ...args]);
    return { code: await p.exited, stderr: p.stderr() };
  };
  const stop = async (s: Spawned) => {
    s.proc.kill('SIGTERM'); // mosquitto_sub disconnects cleanly on SIGTERM
    await s.exited;
  };
  const ns = (s: Spawned) => s.lines.map((l) => (JSON.parse(l.slice(l.indexOf(' ') + 1)) as { n: number }).n);

  beforeAll(async () => {
    t = await startTestEngine(['--auth-hs-secret', TEST_HS_SECRET]);
    rest = await Rest.of(t.base, true);
  });
  afterAll(async () => {
    for (const s of running) s.proc.kill('SIGKILL');
    await t?.stop();
  });

  it.each(['mqttv311', 'mqttv5'])('mosquitto_sub -c (persistent session, QoS 1): in order, then what it missed while away (%s)', async (v) => {
    const area = `district-7-${v}`;
    const id = `car-42-${v}`;
    const args = async () => ['-V', v, '-t', `areas/${area}`, '-q', '1', '-i', id, '-c', '-u', id, '-P', await tok(id, ['district-*']), '-v', ...(v === 'mqttv5' ? ['-x', '3600'] : [])];
    const s1 = sub(await args());
    await until('mosquitto_sub subscribed', () => t.engine.mqtt.connections.size > 0 && [...t.engine.mqtt.connections].some((c) => c.subs.get(area)?.slot !== undefined && c.subs.get(area)!.slot >= 0));
    await rest.seq(area, 10);
    await until('10 lines', () => s1.lines.length >= 10);
    expect(ns(s1)).toEqual(range(1, 10));
    expect(s1.lines[0].startsWith(`areas/${area} `)).toBe(true);
    await sleep(100);
    await stop(s1);
    await rest.seq(area, 10, 11); // missed while away
    const s2 = sub(await args());
    await until('10 more lines', () => s2.lines.length >= 10);
    await rest.seq(area, 5, 21);
    await until('live', () => s2.lines.length >= 15);
    await sleep(100);
    expect(ns(s2)).toEqual(range(11, 25));
    await stop(s2);
  });

  it('mosquitto_pub publishes (QoS 0 and 1, 3.1.1 and 5); without the right it is refused', async () => {
    const area = 'district-pub';
    const s = sub(['-V', 'mqttv5', '-t', `areas/${area}`, '-q', '1', '-i', 'watcher', '-u', 'watcher', '-P', await tok('watcher', ['district-*']), '-v']);
    await until('subscribed', () => [...t.engine.mqtt.connections].some((c) => (c.subs.get(area)?.slot ?? -1) >= 0));
    const ptok = await tok('publisher', [], ['district-*']);
    let n = 0;
    for (const [v, q] of [['mqttv311', '0'], ['mqttv311', '1'], ['mqttv5', '0'], ['mqttv5', '1']]) {
      n++;
      const r = await pub(['-V', v, '-q', q, '-t', `areas/${area}`, '-m', JSON.stringify({ n }), '-i', 'publisher', '-u', 'publisher', '-P', ptok]);
      expect(r.code).toBe(0);
    }
    await until('4 lines', () => s.lines.length >= 4);
    expect(ns(s)).toEqual([1, 2, 3, 4]);
    const denied = await pub(['-V', 'mqttv5', '-q', '1', '-t', 'areas/elsewhere', '-m', '{}', '-i', 'publisher', '-u', 'publisher', '-P', ptok]);
    expect(denied.stderr.toLowerCase()).toContain('not authori');
    const badToken = await pub(['-V', 'mqttv311', '-q', '1', '-t', `areas/${area}`, '-m', '{}', '-i', 'publisher', '-u', 'publisher', '-P', 'x.y.z']);
    expect(badToken.code).not.toBe(0);
    expect(await rest.history('elsewhere')).toEqual([]);
  });

  it('retained: mosquitto_pub -r, then mosquitto_sub gets it first with the retain flag', async () => {
    const area = 'district-parking';
    const ptok = await tok('lot', [], ['district-*']);
    expect((await pub(['-V', 'mqttv5', '-q', '1', '-r', '-t', `areas/${area}`, '-m', '{"free":12}', '-i', 'lot', '-u', 'lot', '-P', ptok])).code).toBe(0);
    const s = sub(['-V', 'mqttv5', '-t', `areas/${area}`, '-q', '1', '-i', 'car-p', '-u', 'car-p', '-P', await tok('car-p', ['district-*']), '-F', '%r %p', '-C', '1']);
    expect(await s.exited).toBe(0);
    expect(s.lines).toEqual(['1 {"free":12}']);
  });

  it('mosquitto_sub areas/+ gets every area the token allows, one created after it subscribed from its start, never another', async () => {
    await rest.publish('fleet-w1', { n: 0 }); // exists before: the wildcard starts at its head
    const s = sub(['-V', 'mqttv5', '-t', 'areas/+', '-q', '1', '-i', 'wild', '-u', 'wild', '-P', await tok('wild', ['fleet-*']), '-v']);
    await until('wildcard expanded', () => [...t.engine.mqtt.connections].some((c) => c.clientId === 'wild' && c.subs.get('fleet-w1')?.slot !== undefined && c.subs.get('fleet-w1')!.slot >= 0));
    await rest.publish('fleet-w1', { n: 1 });
    await rest.publish('other-w', { n: 99 }); // not allowed by the token
    await rest.publish('fleet-w2', { n: 2 }); // new area: found by the once-a-second listing
    await rest.publish('fleet-w2', { n: 3 });
    await until('3 lines', () => s.lines.length >= 3, 10_000);
    await sleep(300);
    expect(s.lines.slice().sort()).toEqual(['areas/fleet-w1 {"n":1}', 'areas/fleet-w2 {"n":2}', 'areas/fleet-w2 {"n":3}']);
  });
});
