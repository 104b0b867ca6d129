/**
 * A wrong Pulsar configuration stops the engine's start with one sentence that says which setting
 * is wrong (./diagnose.ts), against the real broker: the binary port given as web URL, an unknown
 * host, a bad or missing token, a tenant that does not exist, a namespace the role has no grant on
 * (or that does not exist: Pulsar answers a non-admin role the same for both).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineError } from '../../errors.ts';
import { startTestEngine } from '../../testing/harness.ts';
import { NO_BROKER_NOTICE, realBroker } from './testing/broker.ts';

const b = realBroker();
if (!b) console.warn(`[pulsar config errors] ${NO_BROKER_NOTICE}`);

describe.skipIf(!b)('a wrong Pulsar configuration: one clear error at start', () => {
  let dir: string;
  let noGrant: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'abe-pulsar-cfg-'));
    await writeFile(join(dir, 'garbage.token'), 'not-a-jwt');
    noGrant = `public/abe-nogrant-${randomBytes(3).toString('hex')}`;
    await b!.admin.put(`/admin/v2/namespaces/${noGrant}`, {});
  });
  afterAll(async () => {
    await b?.admin.delete(`/admin/v2/namespaces/${noGrant}?force=true`).catch(() => {});
  });

  async function refused(flags: Record<string, string>): Promise<string> {
    const all = { '--log': 'pulsar', '--pulsar-client': 'websocket', '--pulsar-web-url': b!.webUrl, '--pulsar-token-file': b!.engineTokenFile, ...flags };
    const argv = Object.entries(all).flatMap(([k, v]) => (v === '' ? [] : [k, v]));
    const err = await startTestEngine(argv).then(
      async (t) => {
        await t.stop();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(EngineError);
    expect((err as EngineError).code).toBe('log_unavailable');
    return (err as Error).message;
  }

  it('the binary port as web URL', async () => {
    expect(await refused({ '--pulsar-web-url': b!.webUrl.replace(/:\d+$/, ':6650') })).toMatch(/^cannot open the Pulsar log: http:\/\/127\.0\.0\.1:6650 does not speak HTTP\(S\) as Pulsar's web service does: is it the binary port \(6650\)/);
  });

  it('a host that does not resolve', async () => {
    expect(await refused({ '--pulsar-web-url': 'http://pulsar.invalid:8080' })).toMatch(/^cannot open the Pulsar log: cannot resolve the host of http:\/\/pulsar\.invalid:8080/);
  });

  it('a token the broker does not accept, and no token at all', async () => {
    expect(await refused({ '--pulsar-token-file': join(dir, 'garbage.token') })).toMatch(/rejected the credentials: check --pulsar-token/);
    expect(await refused({ '--pulsar-token-file': '' })).toMatch(/rejected the credentials/);
  });

  it('a tenant that does not exist', async () => {
    expect(await refused({ '--pulsar-namespace': 'no-such-tenant/alerts' })).toMatch(/the tenant or namespace of --pulsar-namespace no-such-tenant\/alerts does not exist/);
  });

  it('a namespace without a grant for the role, or that does not exist', async () => {
    const why = /not allowed on namespace .*: it does not exist, or the token's role has no produce \+ consume grant on it/;
    expect(await refused({ '--pulsar-namespace': noGrant })).toMatch(why);
    expect(await refused({ '--pulsar-namespace': 'public/no-such-namespace' })).toMatch(why);
  });
});
