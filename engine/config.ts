/**
 * Flags and environment variables -> EngineConfig. The ONLY module that knows the CLI.
 *
 * Every setting has a `--kebab-case` flag and an UPPER_SNAKE environment variable (the flag
 * wins; an empty variable counts as unset). Parser, validation and `--help` are all generated
 * from the one OPTIONS table below, so they cannot drift apart.
 */
import { readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { FLAPPING_KEYS, type EngineConfig, type FlappingKey, type PulsarConfig } from './config.types.ts';
import { EngineError } from './errors.ts';
import { MIN_HS_SECRET_BYTES } from './auth/jwt.ts';
import { parseAreaLevels } from './areas/compression.ts';
import { parseNamespace, validateDeadLetterSuffix } from './log/pulsar/topic-names.ts';

type Kind = 'string' | 'int' | 'flappingKeys' | 'level' | 'durability' | 'secret' | 'pemFile' | 'logKind' | 'pulsarUrl' | 'pulsarWebUrl' | 'pulsarClient' | 'pulsarNamespace' | 'token' | 'file' | 'dlqSuffix' | 'mqttSockets' | 'areaLevels';

interface OptionSpec {
  readonly flag: string;
  readonly env: string;
  readonly kind: Kind;
  /** Default as it would be written on the command line; absent = unset. */
  readonly def?: string;
  readonly min?: number;
  readonly max?: number;
  readonly meaning: string;
}

const INT_MAX = 2_147_483_647; // also the largest delay setTimeout honours
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
/** File descriptors kept free for the log store, listeners and the process itself. */
export const OPEN_FILE_HEADROOM = 1000;
export const FALLBACK_OPEN_FILE_LIMIT = 20_000;

export const OPTIONS = [
  { flag: 'host', env: 'HOST', kind: 'string', def: '127.0.0.1', meaning: 'interface to listen on (HTTP/WebSocket and MQTT); a non-loopback host requires an auth key' },
  { flag: 'port', env: 'PORT', kind: 'int', def: '8080', min: 0, max: 65535, meaning: 'HTTP/WebSocket port: REST, WebSocket, MQTT-over-WS, /metrics, dashboard (0 = any free port)' },
  { flag: 'mqtt-port', env: 'MQTT_PORT', kind: 'int', def: '1883', min: 0, max: 65535, meaning: 'MQTT over TCP port (0 = any free port); MQTT over WebSocket is on --port at /mqtt' },
  { flag: 'data-dir', env: 'DATA_DIR', kind: 'string', def: './data', meaning: 'directory of the embedded (LMDB) log' },
  { flag: 'log-level', env: 'LOG_LEVEL', kind: 'level', def: 'info', meaning: `log level: ${LOG_LEVELS.join('|')}` },
  { flag: 'durability', env: 'DURABILITY', kind: 'durability', def: 'flush', meaning: 'flush = answer a publish after fsync; commit = after the LMDB commit (survives kill -9, not power loss)' },
  { flag: 'auth-hs-secret', env: 'AUTH_HS_SECRET', kind: 'secret', meaning: `HS256 token secret, >= ${MIN_HS_SECRET_BYTES} bytes (prefer the env var: flags are visible in ps)` },
  { flag: 'auth-public-key-file', env: 'AUTH_PUBLIC_KEY_FILE', kind: 'pemFile', meaning: 'PEM (SPKI) public key file for tokens: EC P-256 = ES256, RSA = RS256' },
  { flag: 'retain-count', env: 'RETAIN_COUNT', kind: 'int', def: '100000', min: 1, meaning: 'messages kept per area for catch-up' },
  { flag: 'retain-seconds', env: 'RETAIN_SECONDS', kind: 'int', def: '86400', min: 1, meaning: 'seconds a message is kept for catch-up' },
  { flag: 'idempotency-ttl-seconds', env: 'IDEMPOTENCY_TTL_SECONDS', kind: 'int', def: '86400', min: 1, meaning: 'seconds an Idempotency-Key is remembered' },
  { flag: 'max-payload-bytes', env: 'MAX_PAYLOAD_BYTES', kind: 'int', def: '1048576', min: 1, meaning: 'largest publish payload' },
  { flag: 'max-client-frame-bytes', env: 'MAX_CLIENT_FRAME_BYTES', kind: 'int', def: '16384', min: 1, meaning: 'largest frame/packet a vehicle may send' },
  { flag: 'max-subscriptions', env: 'MAX_SUBSCRIPTIONS', kind: 'int', def: '32', min: 1, meaning: 'area subscriptions per connection' },
  { flag: 'max-frames-per-second', env: 'MAX_FRAMES_PER_SECOND', kind: 'int', def: '200', min: 1, meaning: 'client frames per second per connection before rate_limited' },
  { flag: 'max-connections', env: 'MAX_CONNECTIONS', kind: 'int', min: 1, meaning: `connections per process; default: open-file soft limit - ${OPEN_FILE_HEADROOM}` },
  { flag: 'max-backpressure-bytes', env: 'MAX_BACKPRESSURE_BYTES', kind: 'int', def: '262144', min: 1, meaning: 'bytes buffered on a socket before it stops getting live sends and catches up later' },
  { flag: 'max-pending-appends', env: 'MAX_PENDING_APPENDS', kind: 'int', def: '10000', min: 1, meaning: 'publishes waiting for the log before REST answers 429' },
  { flag: 'max-connect-rate', env: 'MAX_CONNECT_RATE', kind: 'int', def: '0', min: 0, meaning: 'connections accepted per second per listener (WebSocket, MQTT/TCP, MQTT/WS) per process, burst of the same size; over it: HTTP 503 connect_rate_limited + Retry-After, CONNACK 0x9F (0 = no limit)' },
  { flag: 'flapping-max-connects', env: 'FLAPPING_MAX_CONNECTS', kind: 'int', def: '15', min: 0, meaning: 'connects of one client (see --flapping-by) within --flapping-window-seconds before it is banned (0 = no flapping detection)' },
  { flag: 'flapping-window-seconds', env: 'FLAPPING_WINDOW_SECONDS', kind: 'int', def: '60', min: 1, meaning: 'window in which --flapping-max-connects is counted' },
  { flag: 'flapping-ban-seconds', env: 'FLAPPING_BAN_SECONDS', kind: 'int', def: '300', min: 1, meaning: 'how long a flapping client is refused (HTTP 503 flapping_banned + Retry-After, CONNACK 0x9F)' },
  { flag: 'flapping-by', env: 'FLAPPING_BY', kind: 'flappingKeys', def: 'clientid', meaning: 'what identifies a client for flapping detection, comma-separated: clientid (MQTT client id), subject (token sub; only with per-vehicle tokens), address (remote IP; not behind carrier NAT)' },
  { flag: 'ring-size', env: 'RING_SIZE', kind: 'int', def: '4096', min: 1, meaning: 'recent pre-encoded messages kept in memory per area' },
  { flag: 'fanout-slice-ms', env: 'FANOUT_SLICE_MS', kind: 'int', def: '5', min: 0, max: 1000, meaning: 'while connections are arriving (any in the last 2 s), a fan-out to many subscribers yields the event loop after this long, so the listeners accept in between (libuv accepts one connection per listener per turn); 0 = never' },
  { flag: 'compression-level', env: 'COMPRESSION_LEVEL', kind: 'int', def: '6', min: 0, max: 9, meaning: 'deflate level for clients that ask for compression (WebSocket v1.json+deflate / v1.msgpack+deflate, MQTT 5 accept-encoding: deflate); each message is compressed once per format; 0 = send uncompressed' },
  { flag: 'compression-min-bytes', env: 'COMPRESSION_MIN_BYTES', kind: 'int', def: '128', min: 0, meaning: 'frames (MQTT: payloads) shorter than this are sent uncompressed; so is any that deflate shrinks by less than 10%' },
  { flag: 'compression-areas', env: 'COMPRESSION_AREAS', kind: 'areaLevels', meaning: 'per-area deflate levels, first match wins, e.g. parking:*=9,raw:*=0 (area globs as in token claims); other areas get --compression-level' },
  { flag: 'sweep-interval-ms', env: 'SWEEP_INTERVAL_MS', kind: 'int', def: '250', min: 1, meaning: 'period of the sweep (resends, catch-up, retention, log acks)' },
  { flag: 'ack-resend-ms', env: 'ACK_RESEND_MS', kind: 'int', def: '5000', min: 1, meaning: 'resend unacked messages after this long without ack progress' },
  { flag: 'ack-max-resends', env: 'ACK_MAX_RESENDS', kind: 'int', def: '5', min: 0, max: 255, meaning: 'resends without progress before closing with ack_timeout' },
  { flag: 'tail-poll-ms', env: 'TAIL_POLL_MS', kind: 'int', def: '5', min: 1, meaning: 'how often a tail polls the log for appends by other processes' },
  { flag: 'workers', env: 'WORKERS', kind: 'int', min: 1, max: 1024, meaning: 'engine processes sharing the HTTP/WebSocket and MQTT ports (1 = one process, no primary); default: one per core' },
  { flag: 'metrics-top-areas', env: 'METRICS_TOP_AREAS', kind: 'int', def: '20', min: 1, max: 1000, meaning: 'areas exported per ranking (by subscribers, by ack lag) in the abe_area_* gauges' },
  { flag: 'shutdown-grace-ms', env: 'SHUTDOWN_GRACE_MS', kind: 'int', def: '5000', min: 0, meaning: 'on SIGTERM/SIGINT, how long to wait for publishes in flight to become durable before closing the log (sockets close at once with going_away)' },
  { flag: 'mqtt-inflight-window', env: 'MQTT_INFLIGHT_WINDOW', kind: 'int', def: '32', min: 1, max: 65535, meaning: 'MQTT QoS 1 messages in flight per connection (3.1.1; for 5.0 the lower of this and the client Receive Maximum); the rest waits in the area ring' },
  { flag: 'mqtt-session-expiry-max-seconds', env: 'MQTT_SESSION_EXPIRY_MAX_SECONDS', kind: 'int', def: '604800', min: 0, meaning: 'longest MQTT session expiry granted; 3.1.1 clean-session=0 sessions get exactly this' },
  { flag: 'mqtt-sockets', env: 'MQTT_SOCKETS', kind: 'mqttSockets', def: 'raw', meaning: 'MQTT/TCP sockets: raw = libuv handles without net.Socket (lean; falls back to net where Node does not offer them), net = node:net sockets' },
  { flag: 'mqtt-checkpoint-ms', env: 'MQTT_CHECKPOINT_MS', kind: 'int', def: '30000', min: 100, meaning: 'how often a connected persistent MQTT session writes its positions (a disconnect always writes them; after a crash, QoS 1/2 messages since the last checkpoint are resent with DUP)' },
  { flag: 'mqtt-keepalive-max-seconds', env: 'MQTT_KEEPALIVE_MAX_SECONDS', kind: 'int', def: '900', min: 1, max: 65535, meaning: 'longest MQTT keepalive accepted (0 or longer becomes this); a client silent for 1.5x its keepalive is closed' },
  { flag: 'log', env: 'LOG_KIND', kind: 'logKind', def: 'embedded', meaning: 'where messages live: embedded (LMDB in --data-dir) or pulsar (needs --pulsar-url or --pulsar-web-url)' },
  { flag: 'pulsar-url', env: 'PULSAR_URL', kind: 'pulsarUrl', meaning: 'Pulsar service URL (pulsar://host:6650, pulsar+ssl://host:6651, http(s)://...) for the native client' },
  { flag: 'pulsar-web-url', env: 'PULSAR_WEB_URL', kind: 'pulsarWebUrl', meaning: "the broker's web service (admin + WebSocket API), http(s)://host:port; default: --pulsar-url if it is http(s)://, else its host on 8080 (8443 for pulsar+ssl)" },
  { flag: 'pulsar-client', env: 'PULSAR_CLIENT', kind: 'pulsarClient', def: 'auto', meaning: "native (pulsar-client, needs libpulsar), websocket (Pulsar's WebSocket API, nothing native) or auto (native when it loads, else websocket)" },
  { flag: 'pulsar-namespace', env: 'PULSAR_NAMESPACE', kind: 'pulsarNamespace', def: 'public/default', meaning: 'tenant/namespace of the area topics persistent://{tenant}/{namespace}/area-{area}' },
  { flag: 'pulsar-token', env: 'PULSAR_TOKEN', kind: 'token', meaning: 'Pulsar authentication token (JWT) (prefer the env var or --pulsar-token-file: flags are visible in ps)' },
  { flag: 'pulsar-token-file', env: 'PULSAR_TOKEN_FILE', kind: 'file', meaning: 'file holding the Pulsar token, re-read when the client needs one (rotation)' },
  { flag: 'pulsar-tls-trust-certs-file', env: 'PULSAR_TLS_TRUST_CERTS_FILE', kind: 'file', meaning: 'CA bundle to verify the broker of a pulsar+ssl:// URL (default: the bundle of pulsar-client)' },
  { flag: 'pulsar-dead-letter-suffix', env: 'PULSAR_DEAD_LETTER_SUFFIX', kind: 'dlqSuffix', def: '-DLQ', meaning: 'dead-letter topic of an area = its topic + this suffix (write the flag as --pulsar-dead-letter-suffix=-DLQ)' },
  { flag: 'pulsar-send-timeout-ms', env: 'PULSAR_SEND_TIMEOUT_MS', kind: 'int', def: '10000', min: 1, meaning: 'a publish fails with 503 log_unavailable when Pulsar has not acknowledged it within this' },
  { flag: 'pulsar-cache-records', env: 'PULSAR_CACHE_RECORDS', kind: 'int', def: '10000', min: 1, meaning: 'recent records kept in memory per open area; older catch-up reads replay from Pulsar' },
  { flag: 'pulsar-checkpoint-seconds', env: 'PULSAR_CHECKPOINT_SECONDS', kind: 'int', def: '600', min: 1, meaning: 'write an offset checkpoint into an area topic that had no offset anchor for this long' },
  { flag: 'pulsar-catchup-idle-ms', env: 'PULSAR_CATCHUP_IDLE_MS', kind: 'int', def: '300', min: 1, meaning: 'a Pulsar reader counts as caught up after this long without a message' },
] as const satisfies readonly OptionSpec[];

type Flag = (typeof OPTIONS)[number]['flag'];

/** Soft limit on open files from /proc/self/limits (`ulimit -n`); 20000 if unreadable. */
export function openFileLimit(): number {
  try {
    return parseOpenFileLimit(readFileSync('/proc/self/limits', 'utf8')) ?? FALLBACK_OPEN_FILE_LIMIT;
  } catch {
    return FALLBACK_OPEN_FILE_LIMIT;
  }
}

export function parseOpenFileLimit(procLimits: string): number | undefined {
  const m = /^Max open files\s+(\d+)\s/m.exec(procLimits);
  return m ? Number(m[1]) : undefined;
}

/** One engine process per core (`--workers` default). */
export function defaultWorkers(): number {
  return Math.max(1, availableParallelism());
}

/** limit - headroom; on a small limit (< 2x headroom) half of it, so dev shells still work. */
export function defaultMaxConnections(limit: number = openFileLimit()): number {
  return limit >= 2 * OPEN_FILE_HEADROOM ? limit - OPEN_FILE_HEADROOM : Math.max(1, Math.floor(limit / 2));
}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): { config: EngineConfig } | { help: string } {
  let parsed: ReturnType<typeof parseFlags>;
  try {
    parsed = parseFlags(argv);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new EngineError('bad_request', `${msg} (see --help)`, { cause: err });
  }
  if (parsed.help === true) return { help: helpText() };
  const raw = (o: OptionSpec): { value: string; source: string } | undefined => {
    const flagValue = parsed[o.flag];
    if (typeof flagValue === 'string') return { value: flagValue, source: `--${o.flag}` };
    const envValue = env[o.env];
    if (envValue !== undefined && envValue !== '') return { value: envValue, source: o.env };
    return o.def === undefined ? undefined : { value: o.def, source: `default of --${o.flag}` };
  };
  const values = new Map<Flag, string | number | undefined>();
  for (const o of OPTIONS) {
    const r = raw(o);
    values.set(o.flag, r === undefined ? undefined : convert(o, r.value, r.source));
  }
  const num = (f: Flag) => values.get(f) as number;
  const str = (f: Flag) => values.get(f) as string;
  const opt = (f: Flag) => values.get(f) as string | undefined;
  const hsSecret = opt('auth-hs-secret');
  const publicKeyPem = opt('auth-public-key-file');
  const log = logConfig(str, num, opt);
  const config: EngineConfig = {
    host: str('host'),
    port: num('port'),
    mqttPort: num('mqtt-port'),
    dataDir: str('data-dir'),
    logLevel: str('log-level'),
    durability: str('durability') as EngineConfig['durability'],
    auth: { ...(hsSecret !== undefined && { hsSecret }), ...(publicKeyPem !== undefined && { publicKeyPem }) },
    retention: {
      maxCount: num('retain-count'),
      maxAgeMs: num('retain-seconds') * 1000,
      idempotencyTtlMs: num('idempotency-ttl-seconds') * 1000,
    },
    limits: {
      maxPayloadBytes: num('max-payload-bytes'),
      maxClientFrameBytes: num('max-client-frame-bytes'),
      maxSubscriptionsPerConnection: num('max-subscriptions'),
      maxFramesPerSecond: num('max-frames-per-second'),
      maxConnections: opt('max-connections') === undefined ? defaultMaxConnections() : num('max-connections'),
      maxBackpressureBytes: num('max-backpressure-bytes'),
      maxPendingAppends: num('max-pending-appends'),
    },
    admission: {
      maxConnectRate: num('max-connect-rate'),
      flapping: {
        maxConnects: num('flapping-max-connects'),
        windowMs: num('flapping-window-seconds') * 1000,
        banMs: num('flapping-ban-seconds') * 1000,
        by: str('flapping-by').split(',').map((k) => k.trim()) as FlappingKey[],
      },
    },
    ringSize: num('ring-size'),
    sweepIntervalMs: num('sweep-interval-ms'),
    fanoutSliceMs: num('fanout-slice-ms'),
    compression: {
      level: num('compression-level'),
      minBytes: num('compression-min-bytes'),
      areas: parseAreaLevels(opt('compression-areas') ?? ''),
    },
    ack: { resendAfterMs: num('ack-resend-ms'), maxResends: num('ack-max-resends') },
    tailPollMs: num('tail-poll-ms'),
    shutdownGraceMs: num('shutdown-grace-ms'),
    metricsTopAreas: num('metrics-top-areas'),
    mqtt: {
      inflightWindow: num('mqtt-inflight-window'),
      sessionExpiryMaxSeconds: num('mqtt-session-expiry-max-seconds'),
      keepaliveMaxSeconds: num('mqtt-keepalive-max-seconds'),
      checkpointMs: num('mqtt-checkpoint-ms'),
      sockets: str('mqtt-sockets') as EngineConfig['mqtt']['sockets'],
    },
    workers: opt('workers') === undefined ? defaultWorkers() : num('workers'),
    log,
  };
  return { config: deepFreeze(config) };
}

function logConfig(str: (f: Flag) => string, num: (f: Flag) => number, opt: (f: Flag) => string | undefined): EngineConfig['log'] {
  const kind = str('log') as EngineConfig['log']['kind'];
  const url = opt('pulsar-url');
  const webUrl = opt('pulsar-web-url') ?? (url !== undefined ? defaultWebUrl(url) : undefined);
  const token = opt('pulsar-token');
  const tokenFile = opt('pulsar-token-file');
  const tlsTrustCertsFile = opt('pulsar-tls-trust-certs-file');
  if (kind === 'pulsar' && url === undefined && webUrl === undefined) throw new EngineError('bad_request', '--log pulsar needs --pulsar-url (PULSAR_URL), e.g. pulsar://localhost:6650, or --pulsar-web-url (PULSAR_WEB_URL), e.g. http://localhost:8080');
  if (token !== undefined && tokenFile !== undefined) throw new EngineError('bad_request', 'set --pulsar-token (PULSAR_TOKEN) or --pulsar-token-file (PULSAR_TOKEN_FILE), not both');
  return {
    kind,
    pulsar: {
      ...(url !== undefined && { url }),
      ...(webUrl !== undefined && { webUrl }),
      client: str('pulsar-client') as PulsarConfig['client'],
      namespace: str('pulsar-namespace'),
      ...(token !== undefined && { token }),
      ...(tokenFile !== undefined && { tokenFile }),
      ...(tlsTrustCertsFile !== undefined && { tlsTrustCertsFile }),
      deadLetterSuffix: str('pulsar-dead-letter-suffix'),
      sendTimeoutMs: num('pulsar-send-timeout-ms'),
      cacheRecords: num('pulsar-cache-records'),
      checkpointIntervalMs: num('pulsar-checkpoint-seconds') * 1000,
      catchUpIdleMs: num('pulsar-catchup-idle-ms'),
    },
  };
}

/**
 * The web service (admin + WebSocket API) of a broker given by its service URL: an http(s) lookup
 * URL is the web service itself; for pulsar:// and pulsar+ssl:// it is Pulsar's default web port on
 * the first host (8080, TLS 8443).
 */
export function defaultWebUrl(serviceUrl: string): string {
  const m = /^(pulsar|pulsar\+ssl|http|https):\/\/([^,/]+)/.exec(serviceUrl);
  if (!m) throw new EngineError('bad_request', `"${serviceUrl}" is not a Pulsar service URL`);
  if (m[1] === 'http' || m[1] === 'https') return `${m[1]}://${m[2]}`;
  const host = m[2]!.replace(/:\d+$/, '');
  return m[1] === 'pulsar' ? `http://${host}:8080` : `https://${host}:8443`;
}

function parseFlags(argv: string[]) {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const o of OPTIONS) options[o.flag] = { type: 'string' };
  return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Record<string, string | boolean | undefined>;
}

function convert(o: OptionSpec, value: string, source: string): string | number {
  const bad = (why: string) => new EngineError('bad_request', `${source}: ${why}`);
  switch (o.kind) {
    case 'int': {
      const min = o.min ?? 0;
      const max = o.max ?? INT_MAX;
      if (!/^\d+$/.test(value.trim())) {
        throw bad(/^\s*-\d/.test(value) ? `must not be negative (got "${value}")` : `"${value}" is not a non-negative integer`);
      }
      const n = Number(value.trim());
      if (n < min || n > max) throw bad(`${n} is out of range (${min}..${max})`);
      return n;
    }
    case 'string':
      if (value.trim() === '') throw bad('must not be empty');
      return value;
    case 'level':
      if (!LOG_LEVELS.includes(value)) throw bad(`"${value}" is not one of ${LOG_LEVELS.join('|')}`);
      return value;
    case 'flappingKeys': {
      const keys = value.split(',').map((k) => k.trim());
      const unknown = keys.filter((k) => !FLAPPING_KEYS.includes(k as FlappingKey));
      if (keys.length === 0 || unknown.length > 0) throw bad(`"${value}" must be a comma-separated list of ${FLAPPING_KEYS.join(', ')}`);
      return value;
    }
    case 'durability':
      if (value !== 'flush' && value !== 'commit') throw bad(`"${value}" must be flush or commit`);
      return value;
    case 'secret': {
      const bytes = Buffer.byteLength(value, 'utf8');
      if (bytes < MIN_HS_SECRET_BYTES) throw bad(`secret is ${bytes} bytes; HS256 needs at least ${MIN_HS_SECRET_BYTES}`);
      return value;
    }
    case 'areaLevels':
      try {
        parseAreaLevels(value);
      } catch (err) {
        throw bad((err as Error).message);
      }
      return value;
    case 'mqttSockets':
      if (value !== 'raw' && value !== 'net') throw bad(`"${value}" must be raw or net`);
      return value;
    case 'logKind':
      if (value !== 'embedded' && value !== 'pulsar') throw bad(`"${value}" must be embedded or pulsar`);
      return value;
    case 'pulsarUrl':
      if (!/^(pulsar|pulsar\+ssl|http|https):\/\/[^\s/]+/.test(value)) throw bad(`"${value}" is not a Pulsar service URL (pulsar://host:6650, pulsar+ssl://host:6651, http(s)://host:8080)`);
      return value;
    case 'pulsarWebUrl':
      if (!/^https?:\/\/[^\s/,]+\/?$/.test(value)) throw bad(`"${value}" is not the broker's web service URL (http(s)://host:port)`);
      return value.replace(/\/$/, '');
    case 'pulsarClient':
      if (value !== 'native' && value !== 'websocket' && value !== 'auto') throw bad(`"${value}" must be native, websocket or auto`);
      return value;
    case 'pulsarNamespace':
      try {
        parseNamespace(value);
      } catch (err) {
        throw bad((err as Error).message);
      }
      return value;
    case 'token':
      if (value.trim() === '') throw bad('must not be empty');
      return value;
    case 'file':
      try {
        readFileSync(value);
      } catch (err) {
        throw bad(`cannot read "${value}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
      return value;
    case 'dlqSuffix':
      try {
        validateDeadLetterSuffix(value);
      } catch (err) {
        throw bad((err as Error).message);
      }
      return value;
    case 'pemFile': {
      let pem: string;
      try {
        pem = readFileSync(value, 'utf8');
      } catch (err) {
        throw bad(`cannot read "${value}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
      if (/PRIVATE KEY-----/.test(pem)) throw bad(`"${value}" holds a PRIVATE key; give the public (SPKI) key`);
      if (!/-----BEGIN [A-Z ]*PUBLIC KEY-----/.test(pem)) throw bad(`"${value}" is not a PEM public key`);
      return pem;
    }
  }
}

/** `--help` text: every flag, its env var, its default and what it means. */
export function helpText(): string {
  const rows = OPTIONS.map((o: OptionSpec) => {
    const arg = o.kind === 'int' ? ' <n>' : o.kind === 'pemFile' || o.kind === 'file' ? ' <file>' : ' <value>';
    const def = o.flag === 'max-connections' ? `${defaultMaxConnections()} (this process)` : o.flag === 'workers' ? `${defaultWorkers()} (one per core)` : (o.def ?? '(unset)');
    const range = o.kind === 'int' ? `, ${o.min ?? 0}..${o.max ?? INT_MAX}` : '';
    return `  --${o.flag}${arg}\n      env ${o.env}; default ${def}${range}\n      ${o.meaning}`;
  });
  return [
    'Usage: npm start -- [flags]',
    '',
    'Every flag can also be set by its environment variable; a flag wins over the variable.',
    'An empty environment variable counts as unset. Integers are plain decimal.',
    'Without AUTH_HS_SECRET or AUTH_PUBLIC_KEY_FILE authentication is off, which is only allowed on a loopback host.',
    '',
    '  -h, --help\n      print this text and exit',
    ...rows,
    '',
  ].join('\n');
}

/** True for 127.0.0.0/8, ::1 (any spelling, bracketed or IPv4-mapped) and localhost. */
export function isLoopbackHost(host: string): boolean {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h === 'localhost' || h === 'localhost.') return true;
  if (isIPv4(h)) return h.startsWith('127.');
  if (!isIPv6(h)) return false;
  try {
    const norm = new URL(`http://[${h}]/`).hostname; // canonical form, e.g. [::1], [::ffff:7f00:1]
    return norm === '[::1]' || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(norm);
  } catch {
    return false;
  }
}

/** Refuses to run without authentication anywhere but on loopback. */
export function validateSecurity(config: EngineConfig): void {
  const keyed = config.auth.hsSecret !== undefined || config.auth.publicKeyPem !== undefined;
  if (!keyed && !isLoopbackHost(config.host)) {
    throw new EngineError(
      'bad_request',
      `refusing to listen on ${config.host} without authentication: set AUTH_HS_SECRET (--auth-hs-secret) or ` +
        'AUTH_PUBLIC_KEY_FILE (--auth-public-key-file), or bind to a loopback host such as HOST=127.0.0.1',
    );
  }
}

function deepFreeze<T extends object>(o: T): T {
  for (const v of Object.values(o)) if (v !== null && typeof v === 'object') deepFreeze(v as object);
  return Object.freeze(o);
}
