/**
 * TEST HELPERS ONLY: sends one HTTP fuzz case over a raw node:net socket (in several writes when
 * cut) and holds the engine to the README's REST contract:
 *   - a coded answer: an HTTP/1.1 status; errors carry a JSON body whose `code` is in ERRORS with
 *     that very status; 2xx only where the route has one; a valid request gets its normal answer;
 *   - a well-framed request is answered, not left hanging;
 *   - nothing stored that was not published: a 201 stored exactly the body sent (as framed by its
 *     Content-Length), under the content type declared; anything else moved no head at all.
 */
import { expect } from 'vitest';
import { ERRORS } from '../../errors.ts';
import type { LogRecord } from '../../log/types.ts';
import { until } from '../../testing/harness.ts';
import { parseResponse, rawExchange, type RawResponse } from '../../testing/raw-http.ts';
import { expectCarriable, sample, type FuzzEnv } from './env.ts';
import { split } from './mutate.ts';
import type { RestCase } from './rest-target.ts';

export interface RestOutcome {
  readonly response: RawResponse | undefined;
  /** What came back when it is not an HTTP/1.1 response. */
  readonly notHttp: string | undefined;
  readonly stored: ReadonlyMap<string, LogRecord[]>;
}

/** How long a request that need not be answered (raw mutations, a body still owed) is given. */
const UNFRAMED_WAIT_MS = 150;

export async function runRestCase(env: FuzzEnv, c: RestCase): Promise<RestOutcome> {
  const heads = await env.store.heads();
  const got = await exchange(env.t.port, split(c.request, c.cuts), c.head, c.mustAnswer ? 5000 : UNFRAMED_WAIT_MS);
  // Barrier: a publish the engine took before we hung up has finished appending.
  await until('appends done', async () => (await sample(env.t, 'abe_pending_appends')) === 0, 5000, 2);
  let response: RawResponse | undefined;
  let notHttp: string | undefined;
  try {
    response = parseResponse(got, c.head);
  } catch {
    notHttp = got.subarray(0, 200).toString('latin1');
  }
  return { response, notHttp, stored: await env.store.changedSince(heads) };
}

/** Writes the pieces one event-loop turn apart; what came back once one response is complete, the socket closed, or `waitMs` passed. */
async function exchange(port: number, pieces: readonly Buffer[], head: boolean, waitMs: number): Promise<Buffer> {
  const complete = (b: Buffer): boolean => {
    try {
      return parseResponse(b, head) !== undefined;
    } catch {
      return true; // not HTTP: nothing more to wait for
    }
  };
  return (await rawExchange(port, pieces, { waitMs, done: complete })).bytes;
}

const firstLine = (b: Buffer): string => b.subarray(0, Math.max(0, b.indexOf('\r\n'))).toString('latin1').slice(0, 120);

export function checkRestOutcome(env: FuzzEnv, c: RestCase, o: RestOutcome): void {
  const where = `request ${JSON.stringify(c.request.toString('latin1').slice(0, 300))} (${c.request.length} bytes, cuts ${JSON.stringify(c.cuts)})`;
  expect(o.notHttp, `not an HTTP/1.1 answer (${where})`).toBeUndefined();
  if (c.mustAnswer) expect(o.response, `a well-framed request left unanswered (${where})`).toBeDefined();
  const r = o.response;
  if (r !== undefined) checkAnswer(c, r, where);
  checkStored(env, c, r, o.stored, where);
}

function checkAnswer(c: RestCase, r: RawResponse, where: string): void {
  const what = `HTTP ${r.status} ${r.body.subarray(0, 200).toString('latin1')} (${where})`;
  if (c.valid !== undefined) expect(c.valid, `a valid request's answer: ${what}`).toContain(r.status);
  if (r.status >= 400) {
    if (c.head) return; // HEAD: the status of the GET, no body to read the code from
    let body: { code?: string } | undefined;
    try {
      body = JSON.parse(r.body.toString('utf8')) as { code?: string };
    } catch {
      expect.fail(`error without a JSON body: ${what}`);
    }
    expect(Object.keys(ERRORS), `error code in the registry: ${what}`).toContain(body?.code);
    expect(ERRORS[body!.code as keyof typeof ERRORS].status, `status is the registry's for ${body?.code}: ${what}`).toBe(r.status);
    return;
  }
  const line = firstLine(c.request);
  if (r.status === 201) {
    expect(line, `201 only for a publish: ${what}`).toMatch(/^POST \/v1\/areas\/[^/ ]+\/messages/);
    const b = JSON.parse(r.body.toString('utf8')) as Record<string, unknown>;
    expect(Number.isSafeInteger(b.offset) && (b.offset as number) >= 1 && typeof b.epoch === 'string' && typeof b.duplicate === 'boolean', `201 body: ${what}`).toBe(true);
    return;
  }
  if (r.status === 101) {
    expect(c.request.toString('latin1').toLowerCase(), `101 only for an upgrade: ${what}`).toContain('upgrade: websocket');
    return;
  }
  expect(r.status, `unexpected status: ${what}`).toBe(200);
  expect(line, `200 only for GET/HEAD: ${what}`).toMatch(/^(GET|HEAD) /);
}

function checkStored(env: FuzzEnv, c: RestCase, r: RawResponse | undefined, stored: ReadonlyMap<string, LogRecord[]>, where: string): void {
  const all = [...stored].flatMap(([area, records]) => records.map((rec) => ({ area, rec })));
  const created = r?.status === 201 ? (JSON.parse(r.body.toString('utf8')) as { area: string; offset: number; duplicate: boolean }) : undefined;
  for (const { area, rec } of all) {
    const what = `${area}@${rec.offset} stored ${Buffer.from(rec.payload).toString('hex').slice(0, 120)} (${where})`;
    expectCarriable(area, rec);
    if (c.raw) {
      // Raw bytes mutated: we cannot say how they frame, only that the engine invents nothing.
      expect(c.request.indexOf(Buffer.from(rec.payload)), `not bytes we sent: ${what}`).toBeGreaterThanOrEqual(0);
    } else {
      expect(created !== undefined && !created.duplicate && created.area === area && created.offset === rec.offset, `stored without a 201 for it: ${what}`).toBe(true);
      if (c.publish !== undefined) {
        expect(Buffer.from(rec.payload).equals(c.publish.payload), `not the body as framed: ${what}`).toBe(true);
        expect(rec.contentType, `content type: ${what}`).toBe(c.publish.contentType);
      } else expect(c.request.indexOf(Buffer.from(rec.payload)), `not bytes we sent: ${what}`).toBeGreaterThanOrEqual(0);
    }
    env.store.known(area, rec.offset);
  }
  if (!c.raw && created !== undefined) {
    // A 201 is durable: new (exactly this one record) or a duplicate of one already there.
    if (created.duplicate) {
      expect(all, `duplicate:true but something was appended (${where})`).toEqual([]);
      expect(env.store.isKnown(created.area, created.offset), `duplicate:true of an offset never answered 201 (${where})`).toBe(true);
    }
    else expect(all.length, `201 and exactly one record (${where})`).toBe(1);
  }
}
