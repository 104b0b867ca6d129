/**
 * Bearer-token authentication (JWT via `jose`).
 *
 * Keys: an HS256 shared secret, and/or a PEM public key whose type picks the algorithm
 * (P-256 EC -> ES256, RSA >= 2048 bits -> RS256). A token is accepted only with an algorithm
 * matching a configured key, so an HS256 token never passes against a public key.
 *
 * Claims:
 *   sub        (required) string, the principal's subject (e.g. the vehicle id)
 *   exp        (required) NumericDate, honoured: expired tokens are refused
 *   subscribe  (optional) array of area glob patterns the token may subscribe to
 *   publish    (optional) array of area glob patterns the token may publish to
 *   ops        (optional) boolean: `true` lets the token read operations data (GET /metrics,
 *              /dashboard/data). A right like the other two, but not per area, hence a boolean
 *              rather than patterns; Prometheus and the dashboard get a token with only this.
 * A missing rights claim grants nothing. Patterns: see ./patterns.ts.
 *
 * No key configured = loopback dev mode: `enabled:false`, every call gets the allow-all
 * principal 'anonymous' and the token is ignored. (config.validateSecurity refuses that on a
 * non-loopback host.)
 */
import { createPublicKey, webcrypto, type KeyObject } from 'node:crypto';
import { importSPKI, jwtVerify, type CryptoKey, type JWTPayload } from 'jose';
import { EngineError } from '../errors.ts';
import { TokenCache } from './cache.ts';
import { compilePatterns, type AreaMatcher } from './patterns.ts';
import type { Authenticator, Principal } from './types.ts';

export interface AuthenticatorOptions {
  /** HS256 shared secret (at least MIN_HS_SECRET_BYTES bytes of UTF-8). */
  readonly hsSecret?: string;
  /** SPKI PEM public key (`-----BEGIN PUBLIC KEY-----`): P-256 for ES256, RSA for RS256. */
  readonly publicKeyPem?: string;
  /** Clock in ms since epoch (tests). Default Date.now. */
  readonly now?: () => number;
  /** Verified tokens kept (LRU, also evicted on expiry). Default 10,000; 0 disables. */
  readonly cacheSize?: number;
}

/** RFC 7518 §3.2: an HS256 key must be at least as long as the hash output (256 bits). */
export const MIN_HS_SECRET_BYTES = 32;
/** Longer tokens are refused as malformed before any parsing. */
export const MAX_TOKEN_LENGTH = 8192;
export const DEFAULT_TOKEN_CACHE_SIZE = 10_000;

/** The reasons an `unauthorized` EngineError carries as its message (stable; usable as a metric label). */
export const AUTH_FAILURE = {
  missingToken: 'missing token',
  malformed: 'malformed token',
  badSignature: 'bad signature',
  expired: 'token expired',
  notYetValid: 'token not yet valid',
  missingSub: 'missing sub',
  missingExp: 'missing exp',
  algorithm: 'algorithm not allowed',
  badRights: 'malformed rights claim',
} as const;
export type AuthFailure = (typeof AUTH_FAILURE)[keyof typeof AUTH_FAILURE];

const allowAll: AreaMatcher = () => true;

/** The dev-mode principal: may subscribe and publish anywhere, never expires. */
export const ANONYMOUS: Principal = Object.freeze({
  subject: 'anonymous',
  expiresAt: 0,
  canSubscribe: allowAll,
  canPublish: allowAll,
  canOperate: () => true,
});

type PublicAlg = 'ES256' | 'RS256';

export async function createAuthenticator(opts: AuthenticatorOptions): Promise<Authenticator> {
  const hsSecret = opts.hsSecret;
  const pem = opts.publicKeyPem;
  if (hsSecret === undefined && pem === undefined) {
    return { enabled: false, authenticate: () => Promise.resolve(ANONYMOUS), authenticateKnown: () => ANONYMOUS };
  }
  const now = opts.now ?? Date.now;
  const hmacKey = hsSecret === undefined ? undefined : await importHmacKey(hsSecret);
  const pub = pem === undefined ? undefined : await importPublicKey(pem);
  const algorithms = [...(hmacKey ? ['HS256'] : []), ...(pub ? [pub.alg] : [])];
  const single = hmacKey ?? pub!.key;
  const pick = (header: { alg?: string }) => (header.alg === 'HS256' && hmacKey ? hmacKey : pub!.key);
  const cache = new TokenCache(opts.cacheSize ?? DEFAULT_TOKEN_CACHE_SIZE);
  const matchers = new MatcherMemo();

  async function verify(token: string): Promise<Principal> {
    try {
      const options = { algorithms, currentDate: new Date(now()), requiredClaims: ['exp'] };
      const { payload } = await (hmacKey && pub ? jwtVerify(token, pick, options) : jwtVerify(token, single, options));
      return toPrincipal(payload, matchers);
    } catch (err) {
      throw toAuthError(err);
    }
  }

  return {
    enabled: true,
    authenticate(token: string | undefined): Promise<Principal> {
      if (token === undefined || token === '') return fail(AUTH_FAILURE.missingToken);
      if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) {
        return fail(`${AUTH_FAILURE.malformed}: not a string of at most ${MAX_TOKEN_LENGTH} characters`);
      }
      const t = now();
      const cached = cache.get(token, t);
      if (cached !== undefined) return cached;
      const pending = verify(token);
      cache.set(token, pending, t);
      return pending;
    },
    authenticateKnown(token: string | undefined): Principal | undefined {
      if (token === undefined || token === '' || typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) return undefined;
      return cache.getVerified(token, now());
    },
  };
}

function fail(message: string): Promise<never> {
  return Promise.reject(new EngineError('unauthorized', message));
}

async function importHmacKey(secret: string): Promise<CryptoKey> {
  const bytes = new TextEncoder().encode(secret);
  if (bytes.length < MIN_HS_SECRET_BYTES) {
    throw new EngineError(
      'bad_request',
      `auth HS256 secret is ${bytes.length} bytes; it must be at least ${MIN_HS_SECRET_BYTES} (RFC 7518 §3.2)`,
    );
  }
  const k = await webcrypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  return k as unknown as CryptoKey;
}

/** Detects the algorithm from the key itself and imports it once. */
export async function importPublicKey(pem: string): Promise<{ alg: PublicAlg; key: CryptoKey }> {
  if (/PRIVATE KEY-----/.test(pem)) {
    throw new EngineError('bad_request', 'auth public key: got a PRIVATE key; configure the public (SPKI) key only');
  }
  let keyObject: KeyObject;
  try {
    keyObject = createPublicKey({ key: pem, format: 'pem' });
  } catch (cause) {
    throw new EngineError('bad_request', 'auth public key: not a PEM public key', { cause });
  }
  const details = keyObject.asymmetricKeyDetails ?? {};
  let alg: PublicAlg;
  if (keyObject.asymmetricKeyType === 'ec' && details.namedCurve === 'prime256v1') {
    alg = 'ES256';
  } else if (keyObject.asymmetricKeyType === 'rsa') {
    if ((details.modulusLength ?? 0) < 2048) {
      throw new EngineError('bad_request', `auth public key: RSA key is ${details.modulusLength} bits; RS256 needs >= 2048`);
    }
    alg = 'RS256';
  } else {
    const kind = [keyObject.asymmetricKeyType, details.namedCurve].filter(Boolean).join('/');
    throw new EngineError('bad_request', `auth public key: unsupported key type ${kind}; use EC P-256 (ES256) or RSA (RS256)`);
  }
  const spki = keyObject.export({ type: 'spki', format: 'pem' }).toString();
  return { alg, key: await importSPKI(spki, alg) };
}

function toPrincipal(payload: JWTPayload, matchers: MatcherMemo): Principal {
  const sub = payload.sub;
  if (typeof sub !== 'string' || sub === '') throw new EngineError('unauthorized', AUTH_FAILURE.missingSub);
  return Object.freeze({
    subject: sub,
    expiresAt: (payload.exp as number) * 1000,
    canSubscribe: matchers.get(rights(payload, 'subscribe')),
    canPublish: matchers.get(rights(payload, 'publish')),
    canOperate: opsRight(payload) ? yes : no,
  });
}

const yes = (): boolean => true;
const no = (): boolean => false;

function opsRight(payload: JWTPayload): boolean {
  const value = payload.ops;
  if (value === undefined || value === null) return false;
  if (typeof value === 'boolean') return value;
  throw new EngineError('unauthorized', `${AUTH_FAILURE.badRights}: "ops" must be true or false`);
}

function rights(payload: JWTPayload, claim: 'subscribe' | 'publish'): readonly string[] {
  const value = payload[claim];
  if (value === undefined || value === null) return [];
  if (Array.isArray(value) && value.every((p) => typeof p === 'string')) return value as string[];
  throw new EngineError('unauthorized', `${AUTH_FAILURE.badRights}: "${claim}" must be an array of area patterns`);
}

/**
 * Many tokens carry the same rights (a fleet shares `["keytop:*"]`), so compiled matchers are
 * shared by pattern list. Bounded: cleared when full.
 */
class MatcherMemo {
  private readonly byKey = new Map<string, AreaMatcher>();
  get(patterns: readonly string[]): AreaMatcher {
    const key = JSON.stringify(patterns);
    let m = this.byKey.get(key);
    if (m === undefined) {
      if (this.byKey.size >= 1000) this.byKey.clear();
      m = compilePatterns(patterns);
      this.byKey.set(key, m);
    }
    return m;
  }
}

function toAuthError(err: unknown): EngineError {
  if (err instanceof EngineError) return err;
  const e = err as { code?: unknown; claim?: unknown; reason?: unknown } | null;
  const reason = (message: string) => new EngineError('unauthorized', message, { cause: err });
  switch (e?.code) {
    case 'ERR_JWT_EXPIRED':
      return reason(AUTH_FAILURE.expired);
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return reason(AUTH_FAILURE.badSignature);
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return reason(AUTH_FAILURE.algorithm);
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (e.claim === 'exp') return reason(e.reason === 'missing' ? AUTH_FAILURE.missingExp : `${AUTH_FAILURE.malformed}: "exp" must be a number`);
      if (e.claim === 'nbf' && e.reason === 'check_failed') return reason(AUTH_FAILURE.notYetValid);
      return reason(`${AUTH_FAILURE.malformed}: invalid "${String(e.claim)}" claim`);
    default:
      return reason(AUTH_FAILURE.malformed);
  }
}
