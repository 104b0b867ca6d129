/**
 * Reconnect storms over MQTT [issue 13]: a CONNECT over --max-connect-rate, or of a client id
 * banned for flapping, gets CONNACK 0x9F Connection rate exceeded (3.1.1: 0x03 Server
 * unavailable, its closest return code) and the connection is closed; other clients go on.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { metric, range, startTestEngine, until, type TestEngine } from '../testing/harness.ts';
import { mqttConnect, mqttRefused } from './mqtt-support.ts';

let t: TestEngine | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

const url = (e: TestEngine): string => `mqtt://127.0.0.1:${e.mqttPort}`;

async function connectAndLeave(e: TestEngine, clientId: string, protocolVersion: 4 | 5 = 5): Promise<void> {
  const c = await mqttConnect(url(e), { clientId, protocolVersion });
  await c.end();
}

describe('MQTT admission', () => {
  it('flapping (by client id, the default): the connect over the limit gets 0x9F (3.1.1: 0x03) until the ban ends', async () => {
    t = await startTestEngine(['--flapping-max-connects', '3', '--flapping-ban-seconds', '3']);
    for (let i = 0; i < 3; i++) await connectAndLeave(t, 'flappy-5');
    expect(await mqttRefused(url(t), { clientId: 'flappy-5', protocolVersion: 5 })).toBe(0x9f);
    // Over MQTT/WebSocket the same ban holds (one engine, one admission).
    expect(await mqttRefused(`ws://127.0.0.1:${t.port}/mqtt`, { clientId: 'flappy-5', protocolVersion: 5 })).toBe(0x9f);
    for (let i = 0; i < 3; i++) await connectAndLeave(t, 'flappy-4', 4);
    expect(await mqttRefused(url(t), { clientId: 'flappy-4', protocolVersion: 4 })).toBe(0x03);
    await connectAndLeave(t, 'calm');
    expect(await metric(t.base, 'abe_flapping_bans_total', { key: 'clientid' })).toBe(2);
    expect(await metric(t.base, 'abe_connect_refusals_total', { listener: 'mqtt_tcp', reason: 'flapping_banned' })).toBe(2);
    expect(await metric(t.base, 'abe_connect_refusals_total', { listener: 'mqtt_ws', reason: 'flapping_banned' })).toBe(1);
    await until('the ban of flappy-5 ends', async () => {
      try {
        await connectAndLeave(t!, 'flappy-5');
        return true;
      } catch {
        return false;
      }
    }, 10_000, 250);
  });

  it('--max-connect-rate: the CONNECT over the rate gets 0x9F', async () => {
    t = await startTestEngine(['--max-connect-rate', '3']);
    // 10 CONNECTs at once against a bucket of 3: some get 0x9F whatever the machine's pace.
    const codes = await Promise.all(range(0, 9).map((i) => mqttConnect(url(t!), { clientId: `rate-${i}`, protocolVersion: 5 }).then((c) => c.end().then(() => 0), (e: { code?: number }) => e.code ?? -1)));
    const refused = codes.filter((c) => c !== 0);
    expect(refused.length).toBeGreaterThan(0);
    expect(new Set(refused)).toEqual(new Set([0x9f]));
    expect(await metric(t.base, 'abe_connect_refusals_total', { listener: 'mqtt_tcp', reason: 'connect_rate_limited' })).toBe(refused.length);
  });
});
