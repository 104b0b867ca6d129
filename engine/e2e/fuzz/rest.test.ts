/**
 * Fuzz [issue 13, regression armour]: mutated HTTP requests (publish, history, area, /healthz,
 * WebSocket upgrades) as raw bytes. Every case gets a coded answer (rest-run.ts), the engine stays
 * alive, the observers keep receiving in order, and the log holds exactly the bodies answered 201.
 * The corpus of requests that once broke something is replayed first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corpusFor, type RestEntry } from './corpus.ts';
import { fuzzAll, SEED, startFuzzEnv, type FuzzEnv } from './env.ts';
import { checkRestOutcome, runRestCase, type RestOutcome } from './rest-run.ts';
import { restCaseArb, type RestCase } from './rest-target.ts';

const NUM_RUNS = 400;

let env: FuzzEnv;

beforeAll(async () => {
  env = await startFuzzEnv();
});
afterAll(async () => {
  await env?.stop();
});

async function runChecked(c: RestCase): Promise<RestOutcome> {
  const o = await runRestCase(env, c);
  checkRestOutcome(env, c, o);
  await env.checkAlive();
  return o;
}

describe('corpus: requests that once broke something', () => {
  const entries = corpusFor('rest');
  it.each(entries.map((e) => [e.id, e] as const))('%s', async (_id, e: RestEntry) => {
    const head = e.expect.head === true;
    const o = await runChecked({ request: Buffer.from(e.request, 'latin1'), cuts: [], head, mustAnswer: true, valid: [e.expect.status], publish: undefined, raw: false });
    expect(o.response?.status, e.broke).toBe(e.expect.status);
    if (e.expect.code !== undefined) expect(JSON.parse(o.response!.body.toString()), e.broke).toMatchObject({ code: e.expect.code });
    expect([...o.stored.keys()], 'refused: nothing stored').toEqual([]);
    await env.checkObservers();
  });
});

describe('fuzz', () => {
  it(`mutated publish / history / healthz / upgrade requests (seed ${SEED}, ${NUM_RUNS} runs)`, async () => {
    await fuzzAll(env, restCaseArb, NUM_RUNS, runChecked);
  }, 180_000);
});
