import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CompactSign, UnsecuredJWT } from 'jose';
import { EngineError } from '../errors.ts';
import { AUTH_FAILURE, MAX_TOKEN_LENGTH, createAuthenticator } from './jwt.ts';
import { TEST_HS_SECRET, generateTestKeyPair, signEs256, signHs256, signToken } from './testing.ts';

const nowSec = () => Math.floor(Date.now() / 1000);

async function rejectsWith(p: Promise<unknown>, message: string | RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EngineError);
  expect((err as EngineError).code).toBe('unauthorized');
  if (typeof message === 'string') expect((err as EngineError).message).toBe(message);
  else expect((err as EngineError).message).toMatch(message);
}

describe('dev mode (no key)', () => {
  it('is disabled and allows everything as anonymous, ignoring any token', async () => {
    const auth = await createAuthenticator({});
    expect(auth.enabled).toBe(false);
    for (const token of [undefined, '', 'garbage', await signHs256({ sub: 'car-1' })]) {
      const p = await auth.authenticate(token);
      expect(p.subject).toBe('anonymous');
      expect(p.expiresAt).toBe(0);
      expect(p.canSubscribe('any:area')).toBe(true);
      expect(p.canPublish('any:area')).toBe(true);
      expect(p.canOperate()).toBe(true);
    }
  });
});

describe('HS256', () => {
  it('accepts a valid token and exposes sub, exp and rights', async () => {
    const auth = await createAuthenticator({ hsSecret: TEST_HS_SECRET });
    expect(auth.enabled).toBe(true);
    const exp = nowSec() + 600;
    const p = await auth.authenticate(await signHs256({ sub: 'car-42', exp, subscribe: ['keytop:*', 'city-?:*'], publish: [] }));
    expect(p.subject).toBe('car-42');
    expect(p.expiresAt).toBe(exp * 1000);
    expect(p.canSubscribe('keytop:lane-3')).toBe(true);
    expect(p.canSubscribe('city-a:parking')).toBe(true);
    expect(p.canSubscribe('city-ab:parking')).toBe(false);
    expect(p.canSubscribe('other')).toBe(false);
    expect(p.canPublish('keytop:lane-3')).toBe(false);
  });

  it('missing rights claims grant nothing; publish rights are separate', async () => {
    const auth = await createAuthenticator({ hsSecret: TEST_HS_SECRET });
    const none = await auth.authenticate(await signHs256({ sub: 'car-1' }));
    expect(none.canSubscribe('a')).toBe(false);
    expect(none.canPublish('a')).toBe(false);
    const pub = await auth.authenticate(await signHs256({ sub: 'city', publish: ['city-1:*'], subscribe: null }));
    expect(pub.canPublish('city-1:roads')).toBe(true);
    expect(pub.canPublish('city-2:roads')).toBe(false);
    expect(pub.canSubscribe('city-1:roads')).toBe(false);
  });

  it('the ops right: only "ops": true grants it, independent of area rights', async () => {
    const auth = await createAuthenticator({ hsSecret: TEST_HS_SECRET });
    const ops = await auth.authenticate(await signHs256({ sub: 'prometheus', ops: true }));
    expect(ops.canOperate()).toBe(true);
    expect(ops.canSubscribe('a')).toBe(false);
    expect(ops.canPublish('a')).toBe(false);
    for (const claims of [{ sub: 'car-1', subscribe: ['*'], publish: ['*'] }, { sub: 'x', ops: false }, { sub: 'x', ops: null }]) {
      expect((await auth.authenticate(await signHs256(claims))).canOperate()).toBe(false);
    }
    for (const bad of ['true', 1, ['*']]) {
      await rejectsWith(auth.authenticate(await signHs256({ sub: 'x', ops: bad })), /^malformed rights claim: "ops" must be true or false/);
    }
  });

  it('refuses malformed rights claims', async () => {
    const auth = await createAuthenticator({ hsSecret: TEST_HS_SECRET });
    await rejectsWith(auth.authenticate(await signHs256({ sub: 'x', subscribe: 'keytop:*' })), /^malformed rights claim: "subscribe"/);
    await rejectsWith(auth.authenticate(await signHs256({ sub: 'x', publish: ['a', 1] })), /^malformed rights claim: "publish"/);
  });

  it('bad signature: other secret, tampered payload', async () => {
    const auth = await createAuthenticator({ hsSecret: TEST_HS_SECRET });
    await rejectsWith(auth.authenticate(await signHs256({ sub: 'x' }, 'another-secret-of-at-least-32-bytes!!')), AUTH_FAILURE.badSignature);
    const [h, , s] = (await signHs256({ sub: 'x', subscribe: [] })).split('.');
    const forged = Buffer.from(JSON.stringify({ sub: 'x', exp: nowSec() + 60, subscribe: ['*'] })).toString('base64url');
    await rejectsWith(auth.authenticate(`${h}.${forged}.${s}`), AUTH_FAILURE.badSignature);
  });

  it('expired (and honours the injected clock, also for cached tokens)', async () => {
    let now = Date.now();
    const auth = await createAuthenticator({ hsSecret: TEST_HS_SECRET, now: () => now });
    await rejectsWith(auth.authenticate(await signHs256({ sub: 'x', exp: nowSec() - 1 })), AUTH_FAILURE.expired);
    const exp = nowSec() + 60;
    const token = await signHs256({ sub: 'x', exp });
    await expect(auth.authenticate(token)).resolves.toMatchObject({ subject: 'x' });
    now = exp * 1000 - 1;
    await expect(auth.authenticate(token)).resolves.toMatchObject({ subject: 'x' });
    now = exp * 1000;
    await rejectsWith(auth.authenticate(token), AUTH_FAILURE.expired);
  });

  it('missing sub / empty sub / non-string sub', async () => {
    const auth = await createAuthenticator({ hsSecret: TEST_HS_SECRET });
    for (const claims of [{}, { sub: '' }, { sub: 42 }]) {
      await rejectsWith(auth.authenticate(await signHs256(claims)), AUTH_FAILURE.missingSub);
    }
  });

  it('missing exp', async () => {
    const auth = await createAuthenticator({ hsSecret: TEST_HS_SECRET });
    await rejectsWith(auth.authenticate(await signHs256({ sub: 'x', exp: undefined })), AUTH_FAILURE.missingExp);
    await rejectsWith(auth.authenticate(await signHs256({ sub: 'x', exp: 'soon' })), /^malformed token/);
  });

  it('not yet valid (nbf in the future)', async () => {
    const auth = await createAuthenticator({ hsSecret: TEST_HS_SECRET });
    await rejectsWith(auth.authenticate(await signHs256({ sub: 'x', nbf: nowSec() + 600 })), AUTH_FAILURE.notYetValid);
  });

  it('missing and malformed tokens', async () => {
    const auth = await createAuthenticator({ hsSecret: TEST_HS_SECRET });
    await rejectsWith(auth.authenticate(undefined), AUTH_FAILURE.missingToken);
    await rejectsWith(auth.authenticate(''), AUTH_FAILURE.missingToken);
    const good = await signHs256({ sub: 'x' });
    // Correctly signed, but the payload is not a JSON claims set.
    const notJson = await new CompactSign(new TextEncoder().encode('not json'))
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(TEST_HS_SECRET));
    for (const t of ['abc', 'a.b.c', 'a.b', `Bearer ${good}`, notJson, 'x'.repeat(MAX_TOKEN_LENGTH + 1)]) {
      await rejectsWith(auth.authenticate(t), /^malformed token/);
    }
  });

  it('refuses a short secret at start-up', async () => {
    await expect(createAuthenticator({ hsSecret: 'short' })).rejects.toMatchObject({ code: 'bad_request' });
  });
});

describe('ES256 / RS256', () => {
  it('accepts a valid ES256 token; refuses another key, HS256 and unsigned tokens', async () => {
    const pair = await generateTestKeyPair('ES256');
    const other = await generateTestKeyPair('ES256');
    const auth = await createAuthenticator({ publicKeyPem: pair.publicKeyPem });
    const p = await auth.authenticate(await signEs256({ sub: 'car-7', subscribe: ['keytop:*'] }, pair.privateKey));
    expect(p.subject).toBe('car-7');
    expect(p.canSubscribe('keytop:1')).toBe(true);
    await rejectsWith(auth.authenticate(await signEs256({ sub: 'car-7' }, other.privateKey)), AUTH_FAILURE.badSignature);
    // Algorithm confusion: an HS256 token (even one "signed" with the PEM text) must not pass.
    await rejectsWith(auth.authenticate(await signHs256({ sub: 'x' })), AUTH_FAILURE.algorithm);
    await rejectsWith(auth.authenticate(await signHs256({ sub: 'x' }, pair.publicKeyPem)), AUTH_FAILURE.algorithm);
    const unsigned = new UnsecuredJWT({ sub: 'x', exp: nowSec() + 60 }).encode();
    await rejectsWith(auth.authenticate(unsigned), AUTH_FAILURE.algorithm);
  });

  it('detects RS256 from an RSA key and refuses ES256 tokens for it', async () => {
    const rsa = await generateTestKeyPair('RS256');
    const ec = await generateTestKeyPair('ES256');
    const auth = await createAuthenticator({ publicKeyPem: rsa.publicKeyPem });
    await expect(auth.authenticate(await signToken({ sub: 'r' }, rsa.signer))).resolves.toMatchObject({ subject: 'r' });
    await rejectsWith(auth.authenticate(await signToken({ sub: 'r' }, ec.signer)), AUTH_FAILURE.algorithm);
  });

  it('with both a secret and a public key, accepts either kind', async () => {
    const pair = await generateTestKeyPair('ES256');
    const auth = await createAuthenticator({ hsSecret: TEST_HS_SECRET, publicKeyPem: pair.publicKeyPem });
    await expect(auth.authenticate(await signHs256({ sub: 'h' }))).resolves.toMatchObject({ subject: 'h' });
    await expect(auth.authenticate(await signEs256({ sub: 'e' }, pair.privateKey))).resolves.toMatchObject({ subject: 'e' });
  });

  it('refuses unusable keys at start-up', async () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const cases = [
      'not a pem',
      p384.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      rsa1024.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      p384.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    ];
    for (const pem of cases) {
      await expect(createAuthenticator({ publicKeyPem: pem })).rejects.toMatchObject({ code: 'bad_request' });
    }
  });
});

describe('token cache', () => {
  it('verifies an identical token once (same principal, concurrent calls share one verification)', async () => {
    const auth = await createAuthenticator({ hsSecret: TEST_HS_SECRET });
    const token = await signHs256({ sub: 'car-1', subscribe: ['a:*'] });
    const [a, b] = [auth.authenticate(token), auth.authenticate(token)];
    expect(a).toBe(b);
    const first = await a;
    expect(await auth.authenticate(token)).toBe(first);
  });

  it('is bounded by size (least recently used goes first)', async () => {
    const auth = await createAuthenticator({ hsSecret: TEST_HS_SECRET, cacheSize: 2 });
    const [t1, t2, t3] = await Promise.all(['1', '2', '3'].map((sub) => signHs256({ sub })));
    const p1 = await auth.authenticate(t1);
    await auth.authenticate(t2);
    expect(await auth.authenticate(t1)).toBe(p1); // t1 now most recent
    await auth.authenticate(t3); // evicts t2
    expect(await auth.authenticate(t1)).toBe(p1);
  });

  it('evicts by size: a dropped token is verified again', async () => {
    const auth = await createAuthenticator({ hsSecret: TEST_HS_SECRET, cacheSize: 1 });
    const [t1, t2] = await Promise.all(['1', '2'].map((sub) => signHs256({ sub })));
    const p1 = await auth.authenticate(t1);
    await auth.authenticate(t2);
    const again = await auth.authenticate(t1);
    expect(again).not.toBe(p1);
    expect(again.subject).toBe('1');
  });

  it('authenticateKnown: the principal only once a verification completed, never after exp or for a failure', async () => {
    let now = Date.now();
    const auth = await createAuthenticator({ hsSecret: TEST_HS_SECRET, now: () => now });
    const exp = nowSec() + 60;
    const token = await signHs256({ sub: 'car-9', exp });
    expect(auth.authenticateKnown?.(token)).toBeUndefined(); // never seen
    const pending = auth.authenticate(token);
    expect(auth.authenticateKnown?.(token)).toBeUndefined(); // still verifying
    const p = await pending;
    expect(auth.authenticateKnown?.(token)).toBe(p);
    expect(auth.authenticateKnown?.(undefined)).toBeUndefined();
    now = exp * 1000; // the token's exp: refused like the verifier would
    expect(auth.authenticateKnown?.(token)).toBeUndefined();
    const bad = await signHs256({ sub: 'x' }, 'another-secret-of-at-least-32-bytes!!');
    await auth.authenticate(bad).catch(() => undefined);
    expect(auth.authenticateKnown?.(bad)).toBeUndefined();
    const dev = await createAuthenticator({});
    expect(dev.authenticateKnown?.(undefined)?.subject).toBe('anonymous');
  });

  it('does not cache failures', async () => {
    let now = Date.now();
    const auth = await createAuthenticator({ hsSecret: TEST_HS_SECRET, now: () => now });
    const token = await signHs256({ sub: 'x', nbf: nowSec() + 10 });
    await rejectsWith(auth.authenticate(token), AUTH_FAILURE.notYetValid);
    now += 20_000;
    await expect(auth.authenticate(token)).resolves.toMatchObject({ subject: 'x' });
  });
});
