/**
 * Fuzz [issue 13, regression armour]: mutated MQTT 3.1.1 / 5.0 packet streams over TCP and over
 * WebSocket (/mqtt). Every case gets a coded answer or a counted close (mqtt-run.ts holds the
 * engine to a client-side reference parse), the engine stays alive, the observers keep receiving
 * in order, and every stored record is a payload the stream published (PUBACK 0x00 means stored,
 * a refusal means not). The corpus of packets that once broke something is replayed first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corpusFor, type MqttEntry } from './corpus.ts';
import { fuzzAll, SEED, startFuzzEnv, type FuzzEnv } from './env.ts';
import { checkMqttOutcome, runMqttCase, type MqttOutcome } from './mqtt-run.ts';
import { mqttCaseArb, type MqttCase } from './mqtt-target.ts';
import { unhex } from './mutate.ts';

const NUM_RUNS = 600;

let env: FuzzEnv;

beforeAll(async () => {
  env = await startFuzzEnv();
});
afterAll(async () => {
  await env?.stop();
});

/** One case and every invariant: coded answer, counted close, nothing stored that was not published, alive. */
async function runChecked(c: MqttCase): Promise<MqttOutcome> {
  const o = await runMqttCase(env, c);
  checkMqttOutcome(c, o);
  for (const [area, records] of o.stored) for (const r of records) env.store.known(area, r.offset);
  await env.checkAlive();
  return o;
}

describe('corpus: packets that once broke something', () => {
  const entries = corpusFor('mqtt');
  it.each(entries.map((e) => [e.id, e] as const))('%s', async (_id, e: MqttEntry) => {
    const o = await runChecked({ version: e.version, transport: 'tcp', stream: unhex(e.hex), ...(e.then !== undefined && { then: unhex(e.then) }), cuts: [] });
    const find = (cmd: string) => o.packets.find((p) => p.cmd === cmd) as { reasonCode?: number; returnCode?: number } | undefined;
    const what = `${e.broke}; answers ${JSON.stringify(o.packets.map((p) => p.cmd))}`;
    if (e.expect.connack !== undefined) expect(find('connack')?.reasonCode ?? find('connack')?.returnCode, what).toBe(e.expect.connack);
    if (e.expect.disconnect !== undefined) expect(find('disconnect')?.reasonCode, what).toBe(e.expect.disconnect);
    if (e.expect.puback !== undefined) expect(find('puback')?.reasonCode, what).toBe(e.expect.puback);
    expect(o.closed, what).toBe(e.expect.closed);
    // Whatever was refused left no trace in the log.
    expect([...o.stored.keys()], what).toEqual([]);
    await env.checkObservers();
  });
});

describe('fuzz', () => {
  it(`mutated CONNECT / SUBSCRIBE / PUBLISH / PUBACK / UNSUBSCRIBE / PINGREQ / DISCONNECT streams (seed ${SEED}, ${NUM_RUNS} runs)`, async () => {
    await fuzzAll(env, mqttCaseArb(), NUM_RUNS, runChecked);
  }, 180_000);
});
