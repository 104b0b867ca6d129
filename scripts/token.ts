/**
 * `npm run token -- --sub car-42 --subscribe 'city:*' --publish '' --ttl 1h` prints a token the
 * engine accepts, signed with the configured key: AUTH_HS_SECRET (HS256, as the engine reads it)
 * or --private-key-file (PKCS#8 PEM: EC P-256 → ES256, RSA → RS256; the engine holds the public
 * half in --auth-public-key-file). Lists are comma-separated area globs; '' is an empty list.
 */
import { readFileSync } from 'node:fs';
import { createPrivateKey } from 'node:crypto';
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';

const USAGE = `usage: npm run token -- --sub <subject> [--subscribe 'glob,glob'] [--publish 'glob,...'] [--ttl 1h] [--ops]
                      [--secret <HS256 secret> | --private-key-file key.pem]
  key: --secret, else the AUTH_HS_SECRET environment variable (the engine's), else --private-key-file
  --ttl: 30s, 15m, 1h, 7d (default 1h)`;

export function parseTtl(s: string): number {
  const m = /^(\d+)(s|m|h|d)?$/.exec(s.trim());
  if (m === null) throw new Error(`--ttl ${s}: use e.g. 30s, 15m, 1h, 7d`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
}

const globs = (s: string | undefined): string[] | undefined =>
  s === undefined
    ? undefined
    : s
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== '');

export async function mintToken(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const { values } = parseArgs({
    args: argv,
    options: {
      sub: { type: 'string' },
      subscribe: { type: 'string' },
      publish: { type: 'string' },
      ttl: { type: 'string', default: '1h' },
      ops: { type: 'boolean', default: false },
      secret: { type: 'string' },
      'private-key-file': { type: 'string' },
    },
    strict: true,
  });
  if (values.sub === undefined || values.sub === '') throw new Error(`--sub is required\n${USAGE}`);
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = { sub: values.sub, iat: now, exp: now + parseTtl(values.ttl) };
  const subscribe = globs(values.subscribe);
  const publish = globs(values.publish);
  if (subscribe !== undefined) claims.subscribe = subscribe;
  if (publish !== undefined) claims.publish = publish;
  if (values.ops) claims.ops = true;
  const secret = values.secret ?? env.AUTH_HS_SECRET;
  if (secret !== undefined && secret !== '') {
    return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(secret));
  }
  const keyFile = values['private-key-file'];
  if (keyFile === undefined) throw new Error(`no key: set AUTH_HS_SECRET (as for the engine), --secret or --private-key-file\n${USAGE}`);
  const key = createPrivateKey(readFileSync(keyFile));
  const alg = key.asymmetricKeyType === 'ec' ? 'ES256' : key.asymmetricKeyType === 'rsa' ? 'RS256' : undefined;
  if (alg === undefined) throw new Error(`${keyFile}: an EC P-256 or RSA private key is needed, not ${key.asymmetricKeyType}`);
  return new SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT' }).sign(key);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  mintToken(process.argv.slice(2)).then(
    (t) => process.stdout.write(`${t}\n`),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).message}\n`);
      process.exit(2);
    },
  );
}
