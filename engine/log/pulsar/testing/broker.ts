/**
 * TEST HELPERS: the real Pulsar broker the suites run against. Found through the environment that
 * `npm run pulsar -- env` prints (and engine/testing/pulsar-setup.ts sets for every test run):
 *
 *   PULSAR_WEB_URL            http://127.0.0.1:8081 (admin + WebSocket API)
 *   PULSAR_URL                pulsar://127.0.0.1:6650 (binary protocol, the native client)
 *   PULSAR_ADMIN_TOKEN_FILE   super-user token (creates namespaces, grants)
 *   PULSAR_TOKEN_FILE         the engine role's token (abe-engine)
 *
 * Without a broker the real-broker suites skip with a notice, unless ABE_REQUIRE_PULSAR=1 (CI),
 * where they fail: a real-broker test that CI skips proves nothing.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ENGINE_ROLE } from '../../../../scripts/pulsar/config.ts';
import { PulsarAdmin, ownNamespace } from '../admin.ts';

export { ENGINE_ROLE };

export interface RealBroker {
  readonly webUrl: string;
  readonly serviceUrl: string | undefined;
  readonly adminTokenFile: string;
  readonly engineTokenFile: string;
  readonly admin: PulsarAdmin;
  engineToken(): string;
}

export function realBroker(env: NodeJS.ProcessEnv = process.env): RealBroker | undefined {
  const webUrl = env.PULSAR_WEB_URL ?? env.PULSAR_ADMIN_URL;
  const adminTokenFile = env.PULSAR_ADMIN_TOKEN_FILE;
  const engineTokenFile = env.PULSAR_TOKEN_FILE;
  if (!webUrl || !adminTokenFile || !engineTokenFile) {
    if (env.ABE_REQUIRE_PULSAR === '1') throw new Error('ABE_REQUIRE_PULSAR=1 but no Pulsar broker is configured (PULSAR_WEB_URL, PULSAR_ADMIN_TOKEN_FILE, PULSAR_TOKEN_FILE): start one with `npm run pulsar -- start`');
    return undefined;
  }
  return {
    webUrl,
    serviceUrl: env.PULSAR_URL,
    adminTokenFile,
    engineTokenFile,
    admin: new PulsarAdmin({ webServiceUrl: webUrl, token: () => readFileSync(adminTokenFile, 'utf8').trim(), timeoutMs: 30_000 }),
    engineToken: () => readFileSync(engineTokenFile, 'utf8').trim(),
  };
}

export const NO_BROKER_NOTICE = 'no Pulsar broker configured: the real-broker suite is SKIPPED (`npm run pulsar -- start`, then `eval "$(npm run -s pulsar -- env)"`; CI sets ABE_REQUIRE_PULSAR=1 and never skips)';

/** A namespace of its own (`public/abe-test-<random>`), set up as the engine needs; `drop()` deletes it. */
export function testNamespace(b: RealBroker, prefix = 'abe-test'): Promise<{ namespace: string; drop(): Promise<void> }> {
  return ownNamespace(b.admin, `public/${prefix}-${randomBytes(4).toString('hex')}`, ENGINE_ROLE);
}
