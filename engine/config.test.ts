import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { EngineConfig } from './config.types.ts';
import { EngineError } from './errors.ts';
import {
  OPTIONS,
  defaultMaxConnections,
  defaultWorkers,
  isLoopbackHost,
  openFileLimit,
  parseConfig,
  parseOpenFileLimit,
  validateSecurity,
} from './config.ts';

const SECRET = 'a-secret-that-is-at-least-32-bytes-long';

function cfg(argv: string[] = [], env: NodeJS.ProcessEnv = {}): EngineConfig {
  const r = parseConfig(argv, env);
  if (!('config' in r)) throw new Error('expected a config');
  return r.config;
}

function badRequest(argv: string[], env: NodeJS.ProcessEnv, message: RegExp): void {
  let err: unknown;
  try {
    parseConfig(argv, env);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(EngineError);
  expect((err as EngineError).code).toBe('bad_request');
  expect((err as EngineError).message).toMatch(message);
}

/** Every leaf value of the config with its path. */
function leaves(o: object, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [k, v] of Object.entries(o)) {
    if (v !== null && typeof v === 'object') for (const [p, x] of leaves(v, `${prefix}${k}.`)) out.set(p, x);
    else out.set(prefix + k, v);
  }
  return out;
}

const tmp = mkdtempSync(join(tmpdir(), 'engine-config-'));
const pemFile = join(tmp, 'public.pem');
writeFileSync(pemFile, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }));
const privFile = join(tmp, 'private.pem');
writeFileSync(privFile, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
const junkFile = join(tmp, 'junk.txt');
writeFileSync(junkFile, 'hello');

describe('admission flags', () => {
  it('parses --flapping-by lists and refuses unknown keys', () => {
    const parsed = parseConfig(['--flapping-by', 'subject, address', '--max-connect-rate', '500'], {});
    expect('config' in parsed && parsed.config.admission).toEqual({ maxConnectRate: 500, flapping: { maxConnects: 15, windowMs: 60_000, banMs: 300_000, by: ['subject', 'address'] } });
    expect(() => parseConfig(['--flapping-by', 'clientid,ip'], {})).toThrow(/--flapping-by.*clientid, subject, address/);
  });
});

describe('parseConfig', () => {
  it('documented defaults', () => {
    expect(cfg()).toEqual({
      host: '127.0.0.1',
      port: 8080,
      mqttPort: 1883,
      dataDir: './data',
      logLevel: 'info',
      durability: 'flush',
      auth: {},
      retention: { maxCount: 100_000, maxAgeMs: 86_400_000, idempotencyTtlMs: 86_400_000 },
      limits: {
        maxPayloadBytes: 1_048_576,
        maxClientFrameBytes: 16_384,
        maxSubscriptionsPerConnection: 32,
        maxFramesPerSecond: 200,
        maxConnections: defaultMaxConnections(openFileLimit()),
        maxBackpressureBytes: 262_144,
        maxPendingAppends: 10_000,
      },
      // EMQX's defaults (15 connects a minute -> banned for 5 minutes), by MQTT client id; no connect-rate limit.
      admission: { maxConnectRate: 0, flapping: { maxConnects: 15, windowMs: 60_000, banMs: 300_000, by: ['clientid'] } },
      ringSize: 4096,
      sweepIntervalMs: 250,
      fanoutSliceMs: 5,
      compression: { level: 6, minBytes: 128, areas: [] },
      ack: { resendAfterMs: 5000, maxResends: 5 },
      tailPollMs: 5,
      shutdownGraceMs: 5000,
      metricsTopAreas: 20,
      workers: defaultWorkers(),
      mqtt: { inflightWindow: 32, sessionExpiryMaxSeconds: 604_800, keepaliveMaxSeconds: 900, checkpointMs: 30_000, sockets: 'raw' },
      log: {
        kind: 'embedded',
        pulsar: { client: 'auto', namespace: 'public/default', deadLetterSuffix: '-DLQ', sendTimeoutMs: 10_000, cacheRecords: 10_000, checkpointIntervalMs: 600_000, catchUpIdleMs: 300 },
      },
    });
    expect(Object.isFrozen(cfg().limits)).toBe(true);
  });

  it('every config field is set by exactly one option (flag and env)', () => {
    const ints = OPTIONS.filter((o) => o.kind === 'int');
    // Give each int option a distinct value; each must land in its own config leaf.
    // Options capped below 2000 (ack-max-resends: 255, metrics-top-areas: 1000) get 100+i instead, still distinct;
    // compression-level (0..9) gets its maximum.
    const max = (i: number): number => (ints[i] as { max?: number }).max ?? Infinity;
    const value = (i: number) => String(max(i) < 100 ? max(i) : max(i) < 2000 ? 100 + i : 1000 + i);
    const viaFlag = cfg(ints.map((o, i) => `--${o.flag}=${value(i)}`));
    const viaEnv = cfg([], Object.fromEntries(ints.map((o, i) => [o.env, value(i)])));
    for (const c of [viaFlag, viaEnv]) {
      const found = [...leaves(c).values()];
      ints.forEach((o, i) => {
        const n = Number(value(i));
        expect(found.includes(n) || found.includes(n * 1000), `--${o.flag} not wired`).toBe(true);
      });
    }
    const full = cfg(['--compression-areas', 'raw:*=0', '--auth-hs-secret', SECRET, '--auth-public-key-file', pemFile, '--pulsar-url', 'pulsar://b:6650', '--pulsar-web-url', 'http://b:8081', '--pulsar-token-file', junkFile, '--pulsar-tls-trust-certs-file', pemFile]);
    const withToken = cfg(['--pulsar-token', 'tok']);
    expect(withToken.log.pulsar.token).toBe('tok');
    // --pulsar-token and --pulsar-token-file are exclusive; --compression-areas raw:*=0 is two leaves (pattern, level).
    expect(full.compression.areas).toEqual([{ pattern: 'raw:*', level: 0 }]);
    expect(leaves(full).size + 1 - 1).toBe(OPTIONS.length);
  });

  it('strings, enums and auth via flag and env', () => {
    const env = { HOST: '0.0.0.0', DATA_DIR: '/var/lib/engine', LOG_LEVEL: 'debug', DURABILITY: 'commit', AUTH_HS_SECRET: SECRET, AUTH_PUBLIC_KEY_FILE: pemFile };
    const c = cfg([], env);
    expect(c).toMatchObject({ host: '0.0.0.0', dataDir: '/var/lib/engine', logLevel: 'debug', durability: 'commit' });
    expect(c.auth.hsSecret).toBe(SECRET);
    expect(c.auth.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
  });

  it('flags win over env; empty env counts as unset', () => {
    expect(cfg(['--port', '9000'], { PORT: '7000' }).port).toBe(9000);
    expect(cfg([], { PORT: '7000' }).port).toBe(7000);
    expect(cfg([], { PORT: '' }).port).toBe(8080);
    expect(cfg(['--durability=commit'], { DURABILITY: 'flush' }).durability).toBe('commit');
    expect(cfg(['--retain-seconds', '60'], { RETAIN_SECONDS: '5' }).retention.maxAgeMs).toBe(60_000);
    expect(cfg(['--port', '0']).port).toBe(0);
    expect(cfg([], { MAX_CONNECTIONS: '5' }).limits.maxConnections).toBe(5);
  });

  it('invalid values name the flag or variable and why', () => {
    badRequest(['--port', 'abc'], {}, /^--port: "abc" is not a non-negative integer/);
    badRequest([], { PORT: '12.5' }, /^PORT: "12.5" is not/);
    badRequest(['--port=-1'], {}, /^--port: must not be negative/);
    badRequest(['--port', '65536'], {}, /^--port: 65536 is out of range \(0\.\.65535\)/);
    badRequest([], { MQTT_PORT: '70000' }, /^MQTT_PORT: 70000 is out of range/);
    badRequest(['--ring-size', '0'], {}, /^--ring-size: 0 is out of range \(1\.\./);
    badRequest(['--sweep-interval-ms', '1e3'], {}, /^--sweep-interval-ms: "1e3"/);
    badRequest(['--max-connections', '99999999999'], {}, /^--max-connections: .* out of range/);
    badRequest([], { RETAIN_COUNT: '-5' }, /^RETAIN_COUNT: must not be negative/);
    badRequest(['--durability', 'fsync'], {}, /^--durability: "fsync" must be flush or commit/);
    badRequest([], { DURABILITY: 'none' }, /^DURABILITY: "none" must be flush or commit/);
    badRequest(['--log-level', 'loud'], {}, /^--log-level: "loud" is not one of/);
    badRequest(['--host', ''], {}, /^--host: must not be empty/);
    badRequest(['--auth-hs-secret', 'short'], {}, /^--auth-hs-secret: secret is 5 bytes/);
    badRequest(['--auth-public-key-file', join(tmp, 'missing.pem')], {}, /^--auth-public-key-file: cannot read .*ENOENT/);
    badRequest([], { AUTH_PUBLIC_KEY_FILE: privFile }, /^AUTH_PUBLIC_KEY_FILE: .* PRIVATE key/);
    badRequest([], { AUTH_PUBLIC_KEY_FILE: junkFile }, /^AUTH_PUBLIC_KEY_FILE: .* not a PEM public key/);
    badRequest(['--no-such-flag', '1'], {}, /no-such-flag.*see --help/);
    badRequest(['positional'], {}, /positional/);
    badRequest(['--port'], {}, /--port/);
  });

  it('secrets are never echoed in errors', () => {
    badRequest(['--auth-hs-secret', 'hunter2'], {}, /^(?!.*hunter2)/);
  });

  it('--help / -h lists every flag, its env var, default and meaning', () => {
    for (const argv of [['--help'], ['-h'], ['--port', '1', '-h']]) {
      const r = parseConfig(argv, {});
      expect('help' in r).toBe(true);
      const help = (r as { help: string }).help;
      for (const o of OPTIONS) {
        expect(help).toContain(`--${o.flag} `);
        expect(help).toContain(`env ${o.env};`);
        if ('def' in o) expect(help).toContain(`default ${o.def}`);
        expect(help).toContain(o.meaning);
      }
      expect(help).toContain(`default ${defaultMaxConnections()}`);
    }
  });
});

describe('log selection (--log, --pulsar-*)', () => {
  it('pulsar flags and their env vars', () => {
    const viaFlags = cfg(['--log', 'pulsar', '--pulsar-url', 'pulsar+ssl://broker:6651', '--pulsar-namespace', 'city/alerts', '--pulsar-dead-letter-suffix=-dead', '--pulsar-checkpoint-seconds', '60']);
    expect(viaFlags.log).toEqual({
      kind: 'pulsar',
      pulsar: { url: 'pulsar+ssl://broker:6651', webUrl: 'https://broker:8443', client: 'auto', namespace: 'city/alerts', deadLetterSuffix: '-dead', sendTimeoutMs: 10_000, cacheRecords: 10_000, checkpointIntervalMs: 60_000, catchUpIdleMs: 300 },
    });
    const viaEnv = cfg([], { LOG_KIND: 'pulsar', PULSAR_URL: 'pulsar://b:6650,c:6650', PULSAR_NAMESPACE: 't/n', PULSAR_TOKEN_FILE: junkFile, PULSAR_TLS_TRUST_CERTS_FILE: pemFile, PULSAR_SEND_TIMEOUT_MS: '500' });
    expect(viaEnv.log).toMatchObject({ kind: 'pulsar', pulsar: { url: 'pulsar://b:6650,c:6650', namespace: 't/n', tokenFile: junkFile, tlsTrustCertsFile: pemFile, sendTimeoutMs: 500 } });
    expect(cfg(['--log', 'embedded'], { LOG_KIND: 'pulsar' }).log.kind).toBe('embedded');
    expect(cfg([], { PULSAR_URL: 'pulsar://b:6650' }).log).toMatchObject({ kind: 'embedded', pulsar: { url: 'pulsar://b:6650' } });
    // The web service (admin + WebSocket API): given, or derived from the service URL.
    expect(viaEnv.log.pulsar.webUrl).toBe('http://b:8080');
    expect(cfg(['--pulsar-url', 'http://lookup:8081/']).log.pulsar.webUrl).toBe('http://lookup:8081');
    expect(cfg(['--log', 'pulsar', '--pulsar-web-url', 'http://b:8081', '--pulsar-client', 'websocket']).log.pulsar).toMatchObject({ webUrl: 'http://b:8081', client: 'websocket' });
    expect(cfg([], { PULSAR_URL: 'pulsar://b:6650', PULSAR_WEB_URL: 'https://b:9443', PULSAR_CLIENT: 'native' }).log.pulsar).toMatchObject({ webUrl: 'https://b:9443', client: 'native' });
  });

  it('invalid pulsar settings name the flag or variable and why', () => {
    badRequest(['--log', 'kafka'], {}, /^--log: "kafka" must be embedded or pulsar/);
    badRequest(['--log', 'pulsar'], {}, /--log pulsar needs --pulsar-url \(PULSAR_URL\).* or --pulsar-web-url \(PULSAR_WEB_URL\)/);
    badRequest(['--pulsar-client', 'java'], {}, /^--pulsar-client: "java" must be native, websocket or auto/);
    badRequest(['--pulsar-web-url', 'pulsar://b:6650'], {}, /^--pulsar-web-url: "pulsar:\/\/b:6650" is not the broker's web service URL/);
    badRequest([], { LOG_KIND: 'pulsar' }, /needs --pulsar-url/);
    badRequest(['--pulsar-url', 'localhost:6650'], {}, /^--pulsar-url: "localhost:6650" is not a Pulsar service URL/);
    badRequest([], { PULSAR_NAMESPACE: 'just-one' }, /^PULSAR_NAMESPACE: "just-one" is not a Pulsar namespace/);
    badRequest(['--pulsar-dead-letter-suffix=DLQ'], {}, /^--pulsar-dead-letter-suffix: "DLQ" is not a dead-letter suffix/);
    badRequest(['--pulsar-token-file', join(tmp, 'missing')], {}, /^--pulsar-token-file: cannot read .*ENOENT/);
    badRequest(['--pulsar-token', 'a', '--pulsar-token-file', junkFile], {}, /not both/);
    badRequest(['--pulsar-send-timeout-ms', '0'], {}, /^--pulsar-send-timeout-ms: 0 is out of range/);
    badRequest(['--pulsar-token', ' '], {}, /^(?!.*\s{2}).*--pulsar-token: must not be empty/);
  });
});

describe('open-file limit', () => {
  it('parses the soft limit of /proc/self/limits', () => {
    const text = 'Limit                     Soft Limit           Hard Limit           Units     \nMax open files            1024                 524288               files     \n';
    expect(parseOpenFileLimit(text)).toBe(1024);
    expect(parseOpenFileLimit('Max open files  unlimited  unlimited  files')).toBeUndefined();
    expect(parseOpenFileLimit('')).toBeUndefined();
    expect(openFileLimit()).toBeGreaterThan(0);
  });
  it('default connections leave headroom', () => {
    expect(defaultMaxConnections(20_000)).toBe(19_000);
    expect(defaultMaxConnections(2000)).toBe(1000);
    expect(defaultMaxConnections(1024)).toBe(512);
    expect(defaultMaxConnections(1)).toBe(1);
  });
});

describe('security', () => {
  it('isLoopbackHost', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', 'LOCALHOST', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) {
      expect(isLoopbackHost(h), h).toBe(true);
    }
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'example.com', 'localhost.example.com', '::ffff:10.0.0.1', '127.0.0.1.nip.io', '']) {
      expect(isLoopbackHost(h), h).toBe(false);
    }
  });

  it('validateSecurity refuses a non-loopback host without a key', () => {
    expect(() => validateSecurity(cfg())).not.toThrow();
    expect(() => validateSecurity(cfg(['--host', '0.0.0.0', '--auth-hs-secret', SECRET]))).not.toThrow();
    expect(() => validateSecurity(cfg(['--host', '0.0.0.0', '--auth-public-key-file', pemFile]))).not.toThrow();
    expect(() => validateSecurity(cfg(['--host', '0.0.0.0']))).toThrow(/refusing to listen on 0\.0\.0\.0 without authentication/);
    expect(() => validateSecurity(cfg(['--host', '::']))).toThrow(expect.objectContaining({ code: 'bad_request' }));
  });
});
