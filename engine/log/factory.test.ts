/**
 * createLog picks the implementation from the configuration; pulsar-client is imported only for
 * `--log pulsar`, and where its native library is missing (as on these machines: the package is
 * installed without its install script) `--pulsar-client native` fails with an error that names
 * libpulsar / pulsar-client-cpp and how to install it, while `auto` (the default) goes on with
 * Pulsar's WebSocket API and says why.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../config.ts';
import type { EngineConfig } from '../config.types.ts';
import { EngineError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import { EmbeddedLog } from './embedded.ts';
import { createLog } from './factory.ts';
import { INSTALL_HINT, loadClient, loadPulsarClient } from './pulsar/loader.ts';
import { PulsarLog } from './pulsar/pulsar-log.ts';
import { FakeBroker } from './pulsar/testing/fake-broker.ts';
import { fakePulsarModule } from './pulsar/testing/fake-client.ts';

const logger = createLogger('silent');
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function config(argv: string[]): EngineConfig {
  const r = parseConfig(argv, {});
  if (!('config' in r)) throw new Error('expected a config');
  return r.config;
}

async function failure(p: Promise<unknown>): Promise<EngineError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EngineError);
  expect((err as EngineError).code).toBe('log_unavailable');
  return err as EngineError;
}

const require = createRequire(import.meta.url);
const pkgDir = dirname(require.resolve('pulsar-client/package.json'));
const bindingInstalled = existsSync(join(pkgDir, 'lib', 'binding', 'pulsar.node'));
if (bindingInstalled) console.warn('pulsar-client has its native binding on this machine: the "binding missing" test is skipped');

describe('loadPulsarClient', () => {
  it.skipIf(bindingInstalled)('names the missing native library and how to install it (the binding is missing here)', async () => {
    const err = await failure(loadPulsarClient());
    expect(err.message).toMatch(/native Pulsar client library could not be loaded \(libpulsar \/ pulsar-client-cpp/);
    expect(err.message).toMatch(/Cause: Cannot find module '.*pulsar-client\/lib\/binding\/pulsar\.node'/);
    expect(err.message).toContain('pulsar-client-cpp 4.2.0');
    expect(err.message).toContain('npx node-pre-gyp install --fallback-to-build');
    expect(err.message).toContain('npm rebuild pulsar-client --build-from-source');
    expect(err.message).toContain('--log embedded');
    expect(err.message).toContain(INSTALL_HINT);
  });

  it('says so when pulsar-client itself is not installed', async () => {
    const missing = Object.assign(new Error("Cannot find package 'pulsar-client' imported from /app/engine/log/pulsar/loader.ts"), { code: 'ERR_MODULE_NOT_FOUND' });
    const err = await failure(loadPulsarClient(() => Promise.reject(missing)));
    expect(err.message).toMatch(/optional dependency pulsar-client is not installed \(npm install pulsar-client@1\.18\.0\)/);
    expect(err.message).toContain('libpulsar');
  });

  it('reports a binding that cannot load libpulsar (dlopen)', async () => {
    const dlopen = Object.assign(new Error('libpulsar.so.4: cannot open shared object file: No such file or directory'), { code: 'ERR_DLOPEN_FAILED' });
    const err = await failure(loadPulsarClient(() => Promise.reject(dlopen)));
    expect(err.message).toMatch(/libpulsar \/ pulsar-client-cpp.*Cause: libpulsar\.so\.4: cannot open shared object file/);
  });

  it('refuses a module that is not pulsar-client', async () => {
    const err = await failure(loadPulsarClient(() => Promise.resolve({ default: { Client: 'nope' } })));
    expect(err.message).toMatch(/does not export Client\/MessageId/);
  });

  it('accepts the CommonJS module as ESM import() returns it (under default) and hands it the translated config', async () => {
    const made: unknown[] = [];
    class Client {
      constructor(config: unknown) {
        made.push(config);
      }
    }
    class AuthenticationToken {
      constructor(readonly params: unknown) {}
    }
    const MessageId = { earliest: () => 'E', latest: () => 'L' };
    const mod = await loadPulsarClient(() => Promise.resolve({ default: { Client, MessageId, AuthenticationToken } }));
    expect(mod.kind).toBe('native');
    mod.createClient({ serviceUrl: 'pulsar://b:6650', token: 'tok', tlsTrustCertsFile: '/ca.pem' });
    expect(made[0]).toMatchObject({ serviceUrl: 'pulsar://b:6650', tlsTrustCertsFilePath: '/ca.pem', authentication: expect.any(AuthenticationToken) });
    const auth = (made[0] as { authentication: AuthenticationToken }).authentication.params as { token: () => string };
    expect(auth.token()).toBe('tok');
  });
});

describe('loadClient (--pulsar-client)', () => {
  const missing = (): Promise<unknown> => Promise.reject(Object.assign(new Error('libpulsar.so.4: cannot open shared object file'), { code: 'ERR_DLOPEN_FAILED' }));
  it('auto: the WebSocket client when the native one cannot load, and says why', async () => {
    const c = await loadClient('auto', missing);
    expect(c.kind).toBe('websocket');
    expect(c.module.kind).toBe('websocket');
    expect(c.reason).toMatch(/native client is not available .*libpulsar\.so\.4.*WebSocket API/);
  });
  it('native: the loader error, not a fallback', async () => {
    const err = await failure(loadClient('native', missing));
    expect(err.message).toMatch(/libpulsar/);
  });
  it('websocket: never imports pulsar-client', async () => {
    const c = await loadClient('websocket', () => Promise.reject(new Error('must not import')));
    expect(c.kind).toBe('websocket');
  });
});

describe('createLog', () => {
  it('builds the embedded log by default, without touching pulsar-client', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'factory-'));
    dirs.push(dir);
    let loaded = false;
    const log = await createLog(config(['--data-dir', dir]), logger, {
      loadPulsar: async () => {
        loaded = true;
        throw new Error('must not load');
      },
    });
    expect(log).toBeInstanceOf(EmbeddedLog);
    await log.open();
    expect((await log.append('a', { payload: Buffer.from('x'), contentType: 'binary', time: 1, expiresAt: 0 })).offset).toBe(1);
    await log.close();
    expect(loaded).toBe(false);
  });

  it.skipIf(bindingInstalled)('fails for --log pulsar --pulsar-client native with the loader error when the native library is missing', async () => {
    const err = await failure(createLog(config(['--log', 'pulsar', '--pulsar-url', 'pulsar://localhost:6650', '--pulsar-client', 'native']), logger));
    expect(err.message).toMatch(/libpulsar/);
  });

  it.skipIf(bindingInstalled)('auto (the default): a PulsarLog on the WebSocket client, said in one log line', async () => {
    const lines: string[] = [];
    const recording = createLogger('info', { write: (line: string) => void lines.push(line) });
    const log = await createLog(config(['--log', 'pulsar', '--pulsar-url', 'pulsar://broker.invalid:6650']), recording);
    expect(log).toBeInstanceOf(PulsarLog);
    const said = lines.map((l) => JSON.parse(l) as { msg: string; pulsarClient?: string; serviceUrl?: string; reason?: string }).filter((l) => l.msg.startsWith('Pulsar client'));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatchObject({ pulsarClient: 'websocket', serviceUrl: 'http://broker.invalid:8080' });
    expect(said[0]!.reason).toMatch(/native client is not available/);
  });

  it('builds a PulsarLog from the flags (on the double)', async () => {
    const broker = new FakeBroker();
    const cfg = config(['--log', 'pulsar', '--pulsar-url', 'pulsar://broker:6650', '--pulsar-namespace', 'city/alerts', '--pulsar-token', 'tok', '--pulsar-catchup-idle-ms', '10']);
    const log = await createLog(cfg, logger, { loadPulsar: async () => fakePulsarModule(broker) });
    expect(log).toBeInstanceOf(PulsarLog);
    await log.open();
    expect((await log.append('city:d7', { payload: Buffer.from('x'), contentType: 'binary', time: 1, expiresAt: 0 })).offset).toBe(1);
    expect(broker.topicNames()).toContain('persistent://city/alerts/area-city_3Ad7');
    expect(log.kind).toBe('pulsar');
    await log.close();
  });
});
