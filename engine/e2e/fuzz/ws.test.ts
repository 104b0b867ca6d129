/**
 * Fuzz [issue 13, regression armour]: mutated wire protocol v1 frames on /v1/ws. Every case gets
 * a coded answer (ws-target.ts holds the engine to a README oracle), the engine stays alive, the
 * observers keep receiving in order, and no frame stores anything (vehicles cannot publish).
 * The corpus of frames that once broke something is replayed first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishOk } from '../../testing/harness.ts';
import { corpusFor, type WsEntry } from './corpus.ts';
import { fuzzAll, SEED, startFuzzEnv, type FuzzEnv } from './env.ts';
import { unhex } from './mutate.ts';
import { checkWsOutcome, runWsCase, WS_AREA, wsCaseArb, type WsCase, type WsOutcome } from './ws-target.ts';

const NUM_RUNS = 800;

let env: FuzzEnv;
let epoch: string;

beforeAll(async () => {
  env = await startFuzzEnv();
  // Something for acks and resumes to refer to.
  for (let n = 1; n <= 3; n++) {
    const r = await publishOk(env.t.base, WS_AREA, { n });
    env.store.known(WS_AREA, r.offset);
    epoch = r.epoch;
  }
});
afterAll(async () => {
  await env?.stop();
});

/** One case and every invariant: coded answer, alive, nothing stored. */
async function runChecked(c: WsCase): Promise<WsOutcome> {
  const heads = await env.store.heads();
  const o = await runWsCase(env, c);
  checkWsOutcome(o);
  await env.checkAlive();
  expect(await env.store.changedSince(heads), 'a WebSocket frame changed the store').toEqual(new Map());
  return o;
}

describe('corpus: frames that once broke something', () => {
  const entries = corpusFor('ws');
  it.each(entries.map((e) => [e.id, e] as const))('%s', async (_id, e: WsEntry) => {
    const o = await runChecked({ protocol: e.protocol, frames: e.frames.map((f) => ({ data: unhex(f.hex), binary: f.binary, cuts: [] })) });
    expect(o.close?.code, e.broke).toBe(e.expect.close);
    if (e.expect.counted !== undefined) expect(o.closes[e.expect.counted], `counted as ${e.expect.counted}`).toBe(1);
    await env.checkObservers();
  });
});

describe('fuzz', () => {
  it(`mutated v1.json / v1.msgpack frames (seed ${SEED}, ${NUM_RUNS} runs)`, async () => {
    await fuzzAll(env, wsCaseArb(epoch), NUM_RUNS, runChecked);
  }, 180_000);
});
