/** `npm run token` [issue 15]: the tokens it prints are accepted by the engine's authenticator, with the claims asked for. */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createAuthenticator } from '../engine/auth/jwt.ts';
import { TEST_HS_SECRET } from '../engine/auth/testing.ts';
import { mintToken, parseTtl } from './token.ts';

describe('npm run token', () => {
  it('HS256 from AUTH_HS_SECRET: the engine accepts it with the rights asked for', async () => {
    const token = await mintToken(['--sub', 'car-42', '--subscribe', 'city:*,harbour:?', '--publish', '', '--ttl', '1h'], { AUTH_HS_SECRET: TEST_HS_SECRET });
    const auth = await createAuthenticator({ hsSecret: TEST_HS_SECRET });
    const who = await auth.authenticate(token);
    expect(who.subject).toBe('car-42');
    expect(who.canSubscribe('city:district-7')).toBe(true);
    expect(who.canSubscribe('harbour:1')).toBe(true);
    expect(who.canSubscribe('harbour:12')).toBe(false);
    expect(who.canPublish('city:district-7')).toBe(false);
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { exp: number; iat: number };
    expect(claims.exp - claims.iat).toBe(3600);
  });

  it('ES256 and RS256 from a private key file, checked with the public key the engine would hold', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'abe-token-'));
    const pairs = [generateKeyPairSync('ec', { namedCurve: 'P-256' }), generateKeyPairSync('rsa', { modulusLength: 2048 })];
    for (const [i, { privateKey, publicKey }] of pairs.entries()) {
      const type = i === 0 ? 'ec' : 'rsa';
      const file = join(dir, `${type}.pem`);
      writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }));
      const token = await mintToken(['--sub', 'pub-1', '--publish', 'city:*', '--private-key-file', file], {});
      const auth = await createAuthenticator({ publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string });
      const who = await auth.authenticate(token);
      expect(who.canPublish('city:x')).toBe(true);
    }
  });

  it('the CLI as the README runs it; a missing key or subject is a clear error', () => {
    const out = execFileSync('npm', ['run', '-s', 'token', '--', '--sub', 'car-42', '--subscribe', 'city:*', '--publish', '', '--ttl', '30s'], { env: { ...process.env, AUTH_HS_SECRET: TEST_HS_SECRET }, encoding: 'utf8' });
    expect(out.trim().split('.')).toHaveLength(3);
    expect(() => execFileSync('npm', ['run', '-s', 'token', '--', '--sub', 'x'], { env: { ...process.env, AUTH_HS_SECRET: '' }, stdio: 'pipe' })).toThrow(/no key/);
    expect(() => mintToken([], { AUTH_HS_SECRET: TEST_HS_SECRET })).rejects.toThrow(/--sub is required/);
    expect(parseTtl('15m')).toBe(900);
    expect(() => parseTtl('soon')).toThrow(/--ttl/);
  });
});
