/**
 * TEST HELPERS ONLY: the WebSocket (/v1/ws) fuzz target. Cases start from the four valid client
 * frames of wire protocol v1 (README), encoded per subprotocol, then get a field replaced by any
 * JSON value, padding past the frame limits, the other frame kind or encoding, byte mutations
 * (mutate.ts) and fragmentation into several WebSocket frames; they are sent with the `ws` client.
 *
 * The oracle (`classify`) is written from the README, not from the engine's decoder: for each
 * frame it says whether the engine must close (and with which registry reason), must answer
 * normally, or may do either (limits the README leaves open). `checkWsOutcome` holds the engine
 * to it: a coded answer for everything, nothing silently dropped, nothing closed for no reason.
 */
import fc from 'fast-check';
import { pack, unpack } from 'msgpackr';
import { expect } from 'vitest';
import { CLOSE, ERRORS, type CloseReason } from '../../errors.ts';
import { until, Vehicle, type CloseInfo, type Frame } from '../../testing/harness.ts';
import { FUZZ_MAX_FRAME, FUZZ_MAX_SUBSCRIPTIONS, sample, type FuzzEnv } from './env.ts';
import { applyMutations, hex, mutationsArb, printable, rarely, split, type Mutation } from './mutate.ts';

export type WsProtocol = 'v1.json' | 'v1.msgpack' | 'v1.json+deflate' | 'v1.msgpack+deflate' | null;

/** Client frames of a subprotocol are msgpack (the +deflate variants take their base's client frames). */
const isMsgpack = (p: WsProtocol): boolean => p !== null && p.startsWith('v1.msgpack');

export interface WsFrameInput {
  readonly data: Buffer;
  readonly binary: boolean;
  /** Cut points: the message goes out as this many + 1 WebSocket frames (fragmentation). */
  readonly cuts: readonly number[];
}

export interface WsCase {
  readonly protocol: WsProtocol;
  readonly frames: readonly WsFrameInput[];
}

/** The area the suite publishes a few messages to before fuzzing, so acks and resumes have something to refer to. */
export const WS_AREA = 'fz:ws-a';

// ---------------------------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------------------------

type Value = Record<string, unknown>;

interface FrameRecipe {
  readonly value: Value;
  readonly replace: { key: string; value: unknown } | null;
  readonly pad: number;
  readonly otherEncoding: boolean;
  readonly otherKind: boolean;
  readonly mutations: Mutation[];
  readonly cuts: number[];
}

const areaArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(WS_AREA, 'fz:ws-b', 'fz:ws-c', 'fz:ws-d', 'fz:ws-e') },
  { weight: 1, arbitrary: fc.constantFrom('', '-dash', 'has space', 'ümlaut', 'a/b', 'x'.repeat(129), 'y'.repeat(300)) },
);
const offsetArb = fc.oneof({ weight: 8, arbitrary: fc.nat(5) }, { weight: 1, arbitrary: fc.constantFrom(-1, 1.5, 2 ** 53, 1e300, -0, 999) });

function valueArb(epoch: string): fc.Arbitrary<Value> {
  const since = fc.record({ offset: offsetArb, epoch: fc.constantFrom(epoch, 'other-epoch', '', 'e'.repeat(65)) });
  return fc.oneof(
    { weight: 3, arbitrary: fc.record({ type: fc.constant('ack'), area: areaArb, offset: offsetArb }) },
    { weight: 2, arbitrary: fc.record({ type: fc.constant('subscribe'), area: areaArb, since }, { requiredKeys: ['type', 'area'] }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant('unsubscribe'), area: areaArb }) },
    { weight: 1, arbitrary: fc.constant({ type: 'ping' }) },
  );
}

function recipeArb(epoch: string): fc.Arbitrary<FrameRecipe> {
  const r = fc.record({
    value: valueArb(epoch),
    // One field replaced by any JSON value: decodable, but maybe not a valid frame.
    replace: rarely(fc.tuple(fc.constantFrom('type', 'area', 'offset', 'since', 'extra'), fc.jsonValue({ maxDepth: 2 })).map(([key, value]) => ({ key, value: value as unknown })), 6),
    pad: fc.oneof({ weight: 12, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(900, 1100, 5000) }),
    // 1 in 30 frames in the other encoding, 1 in 30 as the other frame kind (text/binary).
    other: fc.nat(29),
    mutations: fc.oneof({ weight: 4, arbitrary: fc.constant<Mutation[]>([]) }, { weight: 1, arbitrary: mutationsArb(2) }),
    cuts: fc.oneof({ weight: 3, arbitrary: fc.constant<number[]>([]) }, { weight: 1, arbitrary: fc.array(fc.nat(), { maxLength: 3 }) }),
  });
  return r.map(({ other, ...rest }) => ({ ...rest, otherEncoding: other === 0, otherKind: other === 1 }));
}

/** WebSocket cases; `epoch` is the store's, so resumes with `since` can succeed. */
export function wsCaseArb(epoch: string): fc.Arbitrary<WsCase> {
  const recipe = recipeArb(epoch);
  return fc
    .record({
      protocol: fc.constantFrom<WsProtocol>('v1.json', 'v1.msgpack', 'v1.json', 'v1.msgpack', 'v1.json+deflate', 'v1.msgpack+deflate', null),
      // Most cases subscribe to WS_AREA first: acks for a connection's only area take the fast path.
      subscribeFirst: fc.nat(3).map((n) => n > 0),
      recipes: fc.array(recipe, { minLength: 1, maxLength: 4 }),
    })
    .map(({ protocol, subscribeFirst, recipes }) => {
      const json = !isMsgpack(protocol);
      const first = subscribeFirst ? [frameOf({ type: 'subscribe', area: WS_AREA }, json)] : [];
      const frames = [...first, ...recipes.map((r) => build(r, json))];
      return printable({ protocol, frames }, () => `WsCase(${protocol}, ${frames.map((f) => `${f.binary ? 'binary' : 'text'} ${hex(f.data)}${f.cuts.length > 0 ? ` cuts ${JSON.stringify(f.cuts)}` : ''}`).join('; ')})`);
    });
}

function build(r: FrameRecipe, json: boolean): WsFrameInput {
  const value: Value = { ...r.value };
  if (r.replace !== null) value[r.replace.key] = r.replace.value;
  if (r.pad > 0) value.pad = 'x'.repeat(r.pad);
  return { data: applyMutations(encode(value, json !== r.otherEncoding), r.mutations), binary: json === r.otherKind, cuts: r.cuts };
}

function frameOf(value: Value, json: boolean): WsFrameInput {
  return { data: encode(value, json), binary: !json, cuts: [] };
}

const encode = (value: Value, asJson: boolean): Buffer => (asJson ? Buffer.from(JSON.stringify(value)) : Buffer.from(pack(value)));

// ---------------------------------------------------------------------------------------------
// Oracle (from the README's wire protocol v1)
// ---------------------------------------------------------------------------------------------

export type FrameClass =
  | { readonly kind: 'fatal'; readonly reason: CloseReason; readonly byUws: boolean }
  /** Must be answered: ping -> pong, subscribe -> subscribed | error, unsubscribe -> unsubscribed | error, ack -> nothing | error. */
  | { readonly kind: 'valid'; readonly type: 'subscribe' | 'ack' | 'unsubscribe' | 'ping' }
  /** Beyond limits the README leaves open (very long area ids or epochs): bad_frame close or an error answer. */
  | { readonly kind: 'either'; readonly type: 'subscribe' | 'ack' | 'unsubscribe' };

/** Errors that keep the connection (README, wire protocol v1). */
export const WS_KEEP_ERRORS: readonly string[] = ['invalid_area', 'bad_offset', 'bad_ack', 'not_subscribed', 'already_subscribed', 'log_unavailable'];

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const badFrame: FrameClass = { kind: 'fatal', reason: 'bad_frame', byUws: false };

export function classify(data: Buffer, binary: boolean, protocol: WsProtocol): FrameClass {
  // uWS's own refusals come first (it checks before the engine sees the frame): the client sees 1006.
  if (data.length > 4 * FUZZ_MAX_FRAME) return { kind: 'fatal', reason: 'message_too_big', byUws: true };
  let text: string | undefined;
  if (!binary) {
    try {
      text = strictUtf8.decode(data);
    } catch {
      return { kind: 'fatal', reason: 'invalid_utf8', byUws: true };
    }
  }
  if (data.length > FUZZ_MAX_FRAME) return { kind: 'fatal', reason: 'message_too_big', byUws: false };
  let value: unknown;
  try {
    if (isMsgpack(protocol)) {
      if (!binary) return badFrame;
      value = unpack(data);
    } else {
      if (binary) return badFrame;
      value = JSON.parse(text!);
    }
  } catch {
    return badFrame;
  }
  return shape(value);
}

const isOffset = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function shape(value: unknown): FrameClass {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return badFrame;
  const f = value as Record<string, unknown>;
  const type = f.type;
  if (type === 'ping') return { kind: 'valid', type };
  if (type !== 'subscribe' && type !== 'ack' && type !== 'unsubscribe') return badFrame;
  if (typeof f.area !== 'string' || f.area.length === 0) return badFrame;
  let open = f.area.length > 128; // no valid id is that long: invalid_area, or refused as a frame
  if (type === 'ack' && !isOffset(f.offset)) return badFrame;
  if (type === 'subscribe' && f.since !== undefined && f.since !== null) {
    const s = f.since as Record<string, unknown>;
    if (typeof s !== 'object' || Array.isArray(s) || !isOffset(s.offset) || typeof s.epoch !== 'string' || s.epoch.length === 0) return badFrame;
    open ||= s.epoch.length > 64; // epochs are short ids; the README gives no limit
  }
  return open ? { kind: 'either', type } : { kind: 'valid', type };
}

// ---------------------------------------------------------------------------------------------
// Running a case and holding the engine to the oracle
// ---------------------------------------------------------------------------------------------

export interface WsOutcome {
  readonly classes: readonly FrameClass[];
  readonly frames: readonly Frame[];
  readonly close: CloseInfo | undefined;
  /** abe_connection_closes_total growth by reason during the case (uWS refusals are only visible there). */
  readonly closes: Readonly<Record<'message_too_big' | 'invalid_utf8', number>>;
}

const UWS_REASONS = ['message_too_big', 'invalid_utf8'] as const;

export async function runWsCase(env: FuzzEnv, c: WsCase): Promise<WsOutcome> {
  const before = { message_too_big: await sample(env.t, 'abe_connection_closes_total', { reason: 'message_too_big' }), invalid_utf8: await sample(env.t, 'abe_connection_closes_total', { reason: 'invalid_utf8' }) };
  const classes = c.frames.map((f) => classify(f.data, f.binary, c.protocol));
  const v = await Vehicle.connect(env.t.wsUrl, { protocol: c.protocol });
  try {
    for (const f of c.frames) sendFragmented(v, f);
    const fatal = classes.some((k) => k.kind === 'fatal');
    if (!fatal) await syncAnswers(v, classes);
    else await v.waitClose(5000);
    const after = { message_too_big: 0, invalid_utf8: 0 };
    for (const r of UWS_REASONS) after[r] = (await sample(env.t, 'abe_connection_closes_total', { reason: r })) - before[r];
    if (v.closeInfo?.code === 1006) {
      // The engine's close handler may run a moment after the client saw the socket go.
      await until('uWS refusal counted', async () => {
        for (const r of UWS_REASONS) after[r] = (await sample(env.t, 'abe_connection_closes_total', { reason: r })) - before[r];
        return after.message_too_big + after.invalid_utf8 > 0;
      }, 1000).catch(() => undefined);
    }
    return { classes, frames: [...v.frames], close: v.closeInfo, closes: after };
  } finally {
    v.terminate();
  }
}

function sendFragmented(v: Vehicle, f: WsFrameInput): void {
  if (v.ws.readyState !== v.ws.OPEN) return;
  const parts = split(f.data, f.cuts);
  parts.forEach((p, i) => v.ws.send(p, { binary: f.binary, fin: i === parts.length - 1 }));
}

/** Sends a ping of our own and waits until every frame the oracle calls valid is answered (or the engine closed). */
async function syncAnswers(v: Vehicle, classes: readonly FrameClass[]): Promise<void> {
  const need = (t: string): number => classes.filter((k) => k.kind !== 'fatal' && k.type === t).length;
  const pings = need('ping') + 1;
  const answered = need('subscribe') + need('unsubscribe');
  v.send({ type: 'ping' });
  const count = (types: string[]): number => v.frames.filter((f) => types.includes(f.type)).length;
  await v.waitFor('answers', () => v.closeInfo !== undefined || (count(['pong']) >= pings && count(['subscribed', 'unsubscribed', 'error']) >= answered), 5000);
}

export function checkWsOutcome(o: WsOutcome): void {
  for (const f of o.frames) {
    expect(['subscribed', 'unsubscribed', 'message', 'error', 'pong'], `server frame ${JSON.stringify(f).slice(0, 200)}`).toContain(f.type);
    if (f.type === 'error') {
      expect(Object.keys(ERRORS), 'error code in the registry').toContain(f.code);
      expect(WS_KEEP_ERRORS, 'an error that keeps the connection').toContain(f.code);
    }
  }
  const firstFatal = o.classes.findIndex((k) => k.kind === 'fatal');
  const upTo = firstFatal < 0 ? o.classes : o.classes.slice(0, firstFatal);
  const allowed = new Set<CloseReason>();
  if (upTo.some((k) => k.kind === 'either')) allowed.add('bad_frame');
  if (upTo.filter((k) => k.kind !== 'fatal' && k.type === 'subscribe').length > FUZZ_MAX_SUBSCRIPTIONS) allowed.add('too_many_subscriptions');
  const fatal = firstFatal < 0 ? undefined : (o.classes[firstFatal] as Extract<FrameClass, { kind: 'fatal' }>);
  if (fatal === undefined && o.close === undefined) {
    // Open at the end: every valid ping answered, nothing answered twice.
    const pongs = o.frames.filter((f) => f.type === 'pong').length;
    expect(pongs, 'one pong per ping (and ours)').toBe(o.classes.filter((k) => k.kind === 'valid' && k.type === 'ping').length + 1);
    return;
  }
  expect(o.close, `the engine must close (oracle: ${JSON.stringify(fatal)})`).toBeDefined();
  const close = o.close!;
  if (close.code === 1006) {
    // Only uWS's own refusals may drop the socket, and the engine must have counted it under its
    // reason. Frames after a fatal one are still sent (clients pipeline): one uWS refuses drops the
    // socket even while the engine's close frame is on its way, so any of them may be the cause.
    const refusals = new Set((firstFatal < 0 ? [] : o.classes.slice(firstFatal)).flatMap((k) => (k.kind === 'fatal' && k.byUws ? [k.reason] : [])));
    const counted = UWS_REASONS.filter((r) => o.closes[r] > 0 && refusals.has(r));
    expect(counted, `1006 without a counted uWS refusal the frames explain (oracle: ${JSON.stringify(o.classes)}, counted ${JSON.stringify(o.closes)})`).not.toEqual([]);
    return;
  }
  const reason = Object.entries(CLOSE).find(([, v]) => v.code === close.code)?.[0] as CloseReason | undefined;
  expect(reason, `close code ${close.code} in the registry`).toBeDefined();
  expect(close.reason, 'close reason text is the registry key').toBe(reason);
  if (fatal !== undefined && !fatal.byUws) allowed.add(fatal.reason);
  expect([...allowed], `close ${close.code} ${close.reason} (oracle: ${JSON.stringify(o.classes)})`).toContain(reason);
}
