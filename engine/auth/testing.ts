/**
 * TEST HELPERS ONLY: sign tokens the engine accepts. Never imported by engine code.
 */
import { exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from 'jose';

/** A secret long enough for HS256 (>= 32 bytes). */
export const TEST_HS_SECRET = 'test-secret-0123456789abcdef-0123456789abcdef';

export interface TestClaims {
  sub?: unknown;
  /** NumericDate (seconds). Defaults to one hour from now; pass `exp: undefined` to omit it. */
  exp?: unknown;
  subscribe?: unknown;
  publish?: unknown;
  [claim: string]: unknown;
}

export type TestSigner =
  | { readonly alg: 'HS256'; readonly secret: string }
  | { readonly alg: 'ES256' | 'RS256'; readonly privateKey: CryptoKey };

export interface TestKeyPair {
  readonly alg: 'ES256' | 'RS256';
  readonly privateKey: CryptoKey;
  /** SPKI PEM, as the engine's AUTH_PUBLIC_KEY_FILE would hold. */
  readonly publicKeyPem: string;
  readonly signer: TestSigner;
}

export async function generateTestKeyPair(alg: 'ES256' | 'RS256' = 'ES256'): Promise<TestKeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { alg, privateKey, publicKeyPem: await exportSPKI(publicKey), signer: { alg, privateKey } };
}

/** Signs `claims` verbatim (plus a default `exp` one hour ahead, unless the key is present). */
export async function signToken(claims: TestClaims, signer: TestSigner = { alg: 'HS256', secret: TEST_HS_SECRET }): Promise<string> {
  const payload: Record<string, unknown> = { ...claims };
  if (!('exp' in claims)) payload.exp = Math.floor(Date.now() / 1000) + 3600;
  const jwt = new SignJWT(payload).setProtectedHeader({ alg: signer.alg, typ: 'JWT' });
  return signer.alg === 'HS256' ? jwt.sign(new TextEncoder().encode(signer.secret)) : jwt.sign(signer.privateKey);
}

/** HS256 token with the test secret (or `secret`). */
export function signHs256(claims: TestClaims, secret: string = TEST_HS_SECRET): Promise<string> {
  return signToken(claims, { alg: 'HS256', secret });
}

/** ES256 token signed with `privateKey` (from generateTestKeyPair('ES256')). */
export function signEs256(claims: TestClaims, privateKey: CryptoKey): Promise<string> {
  return signToken(claims, { alg: 'ES256', privateKey });
}
