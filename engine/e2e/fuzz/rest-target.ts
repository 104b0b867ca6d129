/**
 * TEST HELPERS ONLY: the HTTP fuzz target's inputs, as raw HTTP/1.1 requests (node:net, so nothing
 * normalises them on the way): publishes with JSON / msgpack / octet-stream bodies, history and
 * area reads, /healthz (GET and HEAD), WebSocket upgrades; then a header value replaced, the
 * Content-Length corrupted, the body mutated, the method changed, or (rarely) the raw request bytes
 * mutated; and cut into several TCP writes.
 *
 * Each case carries what the suite knows from building it: whether the engine must answer, which
 * answer a valid request must get, and, for a publish, the exact payload the engine may store.
 */
import fc from 'fast-check';
import { pack } from 'msgpackr';
import type { ContentType } from '../../log/types.ts';
import { FUZZ_MAX_PAYLOAD } from './env.ts';
import { KNOWN_BUGS, uwsNativeRefuses } from './known.ts';
import { applyMutations, mutationsArb, printable, rarely, type Mutation } from './mutate.ts';

export interface RestCase {
  readonly request: Buffer;
  readonly cuts: readonly number[];
  /** HEAD: the answer has no body. */
  readonly head: boolean;
  /** Well framed (no raw mutation, the whole body sent): the engine must answer, not wait. */
  readonly mustAnswer: boolean;
  /** The statuses a valid request may get (undefined: anything coded). */
  readonly valid: readonly number[] | undefined;
  /** A publish whose body the engine would store: the exact bytes (a Content-Length shorter than the body cuts it). */
  readonly publish: { readonly area: string; readonly payload: Buffer; readonly contentType: ContentType } | undefined;
  /** Raw bytes mutated: a stored record need only be bytes we sent. */
  readonly raw: boolean;
}

const GOOD_AREAS = ['fz:r-a', 'fz:r-b', 'fz:r-c'];
const areaArb = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...GOOD_AREAS) }, { weight: 1, arbitrary: fc.constantFrom('-bad', 'x'.repeat(129), 'a%2Fb', '%41', 'sp ace', 'ü') });

const TYPES: Record<ContentType, string> = { json: 'application/json', msgpack: 'application/msgpack', binary: 'application/octet-stream' };

interface Body {
  readonly bytes: Buffer;
  readonly type: ContentType;
}

const bodyArb: fc.Arbitrary<Body> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v): Body => ({ bytes: Buffer.from(JSON.stringify(v) ?? 'null'), type: 'json' })) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v): Body => ({ bytes: Buffer.from(pack(v)), type: 'msgpack' })) },
  { weight: 2, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b): Body => ({ bytes: Buffer.from(b), type: 'binary' })) },
);

/**
 * Content-Length: the right one mostly; else one that frames another body, a value that can only
 * be refused (README / issue 13: negative, not a number, over any limit), or one a lenient parser
 * might read as a number larger than the body (then waiting for the rest is fair).
 */
type Length = 'exact' | 'omit' | 'longer' | 'shorter' | 'twice' | string;
const REFUSED_LENGTHS = ['-1', 'abc', '99999999999', '1000000000000', '4294967296'];
const lengthArb: fc.Arbitrary<Length> = fc.oneof(
  { weight: 12, arbitrary: fc.constant('exact') },
  { weight: 4, arbitrary: fc.constantFrom('omit', 'longer', 'shorter', 'twice') },
  { weight: 2, arbitrary: fc.constantFrom(...REFUSED_LENGTHS) },
  { weight: 1, arbitrary: fc.constantFrom('+5', ' 5', '1e3', '0x10', '') },
);

interface PublishRecipe {
  readonly area: string;
  readonly body: Body;
  readonly big: boolean;
  /** Content-Type other than the body's (undefined: the body's own). */
  readonly otherType: string | null;
  readonly bodyMutations: Mutation[];
  readonly length: Length;
  readonly idempotencyKey: string | null;
  readonly ttl: string | null;
}

const publishRecipeArb: fc.Arbitrary<PublishRecipe> = fc.record({
  area: areaArb,
  body: bodyArb,
  big: fc.nat(15).map((n) => n === 0),
  otherType: rarely(fc.constantFrom('application/json; charset=utf-8', 'APPLICATION/JSON', 'application/x-msgpack', 'text/plain', '', 'application/json', 'application/msgpack', 'application/octet-stream'), 6),
  bodyMutations: fc.oneof({ weight: 3, arbitrary: fc.constant<Mutation[]>([]) }, { weight: 1, arbitrary: mutationsArb(2) }),
  length: lengthArb,
  idempotencyKey: rarely(fc.constantFrom('k-1', 'k-2', 'x'.repeat(257)), 6),
  ttl: rarely(fc.constantFrom('10', '0', '-1', 'abc', '1e3', '99999999999'), 6),
});

/** What a request is, before any raw mutation. */
interface Built {
  readonly method: string;
  readonly path: string;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Buffer;
  readonly length: Length;
  readonly valid: readonly number[] | undefined;
  readonly publish: RestCase['publish'];
}

function buildPublish(r: PublishRecipe): Built {
  const body = applyMutations(r.big ? Buffer.alloc(FUZZ_MAX_PAYLOAD + 1, 0x31) : r.body.bytes, r.bodyMutations);
  const declared = r.otherType ?? TYPES[r.body.type];
  const headers: [string, string][] = [['Content-Type', declared]];
  if (r.idempotencyKey !== null) headers.push(['Idempotency-Key', r.idempotencyKey]);
  if (r.ttl !== null) headers.push(['Message-TTL', r.ttl]);
  const clean = !r.big && r.otherType === null && r.bodyMutations.length === 0 && r.length === 'exact' && GOOD_AREAS.includes(r.area) && r.idempotencyKey === null && (r.ttl === null || r.ttl === '10');
  const stored = r.length === 'shorter' ? body.subarray(0, Math.max(0, body.length - 1)) : r.length === 'omit' ? Buffer.alloc(0) : body;
  const type = contentTypeOf(declared);
  return {
    method: 'POST',
    path: `/v1/areas/${r.area}/messages`,
    headers,
    body,
    length: r.length,
    valid: clean ? [201] : undefined,
    publish: type === undefined || !['exact', 'shorter', 'omit'].includes(r.length) ? undefined : { area: r.area, payload: stored, contentType: type },
  };
}

/** README: the three content types (parameters and case do not matter). */
function contentTypeOf(header: string): ContentType | undefined {
  const base = header.split(';')[0].trim().toLowerCase();
  if (base === 'application/json') return 'json';
  if (base === 'application/msgpack' || base === 'application/x-msgpack') return 'msgpack';
  return base === 'application/octet-stream' ? 'binary' : undefined;
}

const queryArb = fc.constantFrom('', '?from=0&limit=10', '?from=1', '?limit=1000', '?limit=1001', '?from=-1', '?from=abc', '?limit=0', '?from=99999999999999999', '?from=1.5&limit=x');

const readArb: fc.Arbitrary<Built> = fc.oneof(
  fc.record({ area: areaArb, query: queryArb }).map(({ area, query }): Built => {
    const ok = GOOD_AREAS.includes(area) && ['', '?from=0&limit=10', '?from=1', '?limit=1000'].includes(query);
    // 404 area_not_found while nothing was published there yet.
    return { method: 'GET', path: `/v1/areas/${area}/messages${query}`, headers: [], body: Buffer.alloc(0), length: 'omit', valid: ok ? [200, 404] : undefined, publish: undefined };
  }),
  areaArb.map((area): Built => ({ method: 'GET', path: `/v1/areas/${area}`, headers: [], body: Buffer.alloc(0), length: 'omit', valid: GOOD_AREAS.includes(area) ? [200, 404] : undefined, publish: undefined })),
  fc.constantFrom('GET', 'HEAD').map((method): Built => ({ method, path: '/healthz', headers: [], body: Buffer.alloc(0), length: 'omit', valid: [200], publish: undefined })),
  fc.constantFrom('/nope', '/v1', '/v1/areas', '/v1/areas/fz:r-a/messages/1', '/healthz/x').map((path): Built => ({ method: 'GET', path, headers: [], body: Buffer.alloc(0), length: 'omit', valid: [404], publish: undefined })),
);

const upgradeArb: fc.Arbitrary<Built> = fc
  .record({ path: fc.constantFrom('/v1/ws', '/mqtt'), version: fc.constantFrom('13', '13', '8', '', '13, 8', 'x'), protocol: fc.constantFrom('v1.json', 'v1.msgpack', 'v2.json', 'mqtt', null) })
  .map(({ path, version, protocol }): Built => {
    const headers: [string, string][] = [['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='], ['Sec-WebSocket-Version', version]];
    if (protocol !== null) headers.push(['Sec-WebSocket-Protocol', protocol]);
    const speaks = path === '/mqtt' ? protocol === 'mqtt' : protocol !== 'v2.json' && protocol !== 'mqtt';
    // RFC 6455 §4.2.2: another version is 426 (README: issue 13); a subprotocol we do not speak is 400 (README, WebSocket).
    const valid = version === '13' ? (speaks ? [101] : undefined) : version === '' || version === 'x' || version === '8' ? [426] : undefined;
    return { method: 'GET', path, headers, body: Buffer.alloc(0), length: 'omit', valid, publish: undefined };
  });

interface Recipe {
  readonly built: Built;
  /** A header value replaced (index into the headers, any printable or odd bytes). */
  readonly headerValue: { readonly index: number; readonly value: string } | null;
  readonly method: string | null;
  readonly extraHeaders: number;
  readonly rawMutations: Mutation[] | null;
  readonly cuts: number[];
}

const recipeArb: fc.Arbitrary<Recipe> = fc.record({
  built: fc.oneof({ weight: 5, arbitrary: publishRecipeArb.map(buildPublish) }, { weight: 3, arbitrary: readArb }, { weight: 1, arbitrary: upgradeArb }),
  headerValue: rarely(fc.record({ index: fc.nat(), value: fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('', ' ', '\t', 'a\u0000b', '\u00ff', 'x'.repeat(300))) }), 6),
  method: rarely(fc.constantFrom('PUT', 'DELETE', 'PATCH', 'OPTIONS', 'get', 'POST', 'GET', 'HEAD'), 8),
  // Some more headers, well under uWS's own limit (~1000 headers is a KNOWN corpus entry).
  extraHeaders: fc.oneof({ weight: 9, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 30 }) }),
  rawMutations: rarely(mutationsArb(3), 6),
  cuts: fc.oneof({ weight: 2, arbitrary: fc.constant<number[]>([]) }, { weight: 1, arbitrary: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }) }),
});

export const restCaseArb: fc.Arbitrary<RestCase> = recipeArb.map(toCase);

function toCase(r: Recipe): RestCase {
  const b = r.built;
  const headers = b.headers.map(([k, v]) => [k, v] as [string, string]);
  if (r.headerValue !== null && headers.length > 0) headers[r.headerValue.index % headers.length][1] = r.headerValue.value;
  const method = r.method ?? b.method;
  const lines = [`${method} ${b.path} HTTP/1.1`, 'Host: 127.0.0.1', ...headers.map(([k, v]) => `${k}: ${v}`)];
  for (let i = 0; i < r.extraHeaders; i++) lines.push(`X-Fuzz-${i}: ${i}`);
  const cl = (n: number): string => `Content-Length: ${n}`;
  if (b.length === 'exact') lines.push(cl(b.body.length));
  else if (b.length === 'longer') lines.push(cl(b.body.length + 5));
  else if (b.length === 'shorter') lines.push(cl(Math.max(0, b.body.length - 1)));
  else if (b.length === 'twice') lines.push(cl(b.body.length), cl(b.body.length + 1));
  else if (b.length !== 'omit') lines.push(`Content-Length: ${b.length}`);
  const request = Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), b.body]);
  const changed = r.headerValue !== null || r.method !== null;
  const raw = r.rawMutations !== null && r.rawMutations.length > 0;
  const sent = raw ? applyMutations(request, r.rawMutations!) : request;
  const unanswerable = KNOWN_BUGS.uwsNativeParserRefusals && uwsNativeRefuses(sent);
  const out: RestCase = {
    request: sent,
    cuts: r.cuts,
    head: method === 'HEAD',
    // A longer Content-Length or two of them: the engine may wait for the rest, or refuse.
    mustAnswer: !raw && !unanswerable && ['exact', 'omit', 'shorter', ...REFUSED_LENGTHS].includes(b.length) && !(r.headerValue !== null && /[\r\n]/.test(r.headerValue.value)),
    valid: changed || raw || unanswerable ? undefined : b.valid,
    publish: changed || raw ? undefined : b.publish,
    raw,
  };
  return printable(out, () => `RestCase(request latin1 ${JSON.stringify(sent.toString('latin1').slice(0, 400))}, ${sent.length} bytes, cuts ${JSON.stringify(r.cuts)}, mustAnswer ${out.mustAnswer})`);
}
