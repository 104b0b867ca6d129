/**
 * Starts and stops a real Apache Pulsar standalone (./config.ts says which release and why):
 *
 * 1. distribution: `mvn dependency:copy` of Apache's server distribution from Maven Central into
 *    the cache (outside the work tree), unpacked once;
 * 2. instance: its config (regenerated at every start), a token secret and two tokens (admin =
 *    super-user, abe-engine = produce/consume on what it is granted), data and logs under
 *    `{cache}/instances/{name}/`;
 * 3. start: `bin/pulsar standalone` (functions worker and stream storage off) in its own session,
 *    then wait until the broker's own health check (a real produce/consume round trip) passes,
 *    then give `public/default` the policies the engine needs (README, "Pulsar");
 * 4. stop: SIGTERM, and SIGKILL after 30 s.
 *
 * Used by `npm run pulsar` (./cli.ts), `.ci/run`, and tests that need a broker of their own
 * (fault injection, the fleet in network namespaces).
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { PulsarAdmin, prepareNamespace } from '../../engine/log/pulsar/admin.ts';
import { ADMIN_ROLE, DEFAULT_SPEC, DISTRIBUTION_ARTIFACT, ENGINE_ROLE, PULSAR_VERSION, cacheRoot, instancePaths, jvmEnv, standaloneConf, type InstancePaths, type StandaloneSpec } from './config.ts';

export type Log = (line: string) => void;

export interface Instance {
  readonly name: string;
  readonly version: string;
  readonly pid: number;
  /** pulsar://host:brokerPort (native client). */
  readonly serviceUrl: string;
  /** http://host:webPort (admin API, WebSocket API). */
  readonly webServiceUrl: string;
  readonly adminTokenFile: string;
  readonly engineTokenFile: string;
  readonly logFile: string;
  readonly dataDir: string;
  /** Seconds from spawn to healthy. */
  readonly startSeconds: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function distributionHome(root = cacheRoot()): string {
  return join(root, 'dist', `apache-pulsar-${PULSAR_VERSION}`);
}

/** Downloads (Maven) and unpacks the server distribution unless it is already in the cache. */
export function ensureDistribution(log: Log, root = cacheRoot()): string {
  const home = distributionHome(root);
  if (existsSync(join(home, 'bin', 'pulsar')) && existsSync(join(home, 'lib'))) return home;
  const download = join(root, 'download');
  mkdirSync(download, { recursive: true });
  log(`resolving ${DISTRIBUTION_ARTIFACT} from Maven Central (about 245 MB, once)`);
  const t0 = Date.now();
  const mvn = spawnSync('mvn', ['-B', '-q', 'dependency:copy', `-Dartifact=${DISTRIBUTION_ARTIFACT}`, `-DoutputDirectory=${download}`], { stdio: 'inherit' });
  if (mvn.error) throw new Error(`cannot run Maven (mvn): ${mvn.error.message}`);
  if (mvn.status !== 0) throw new Error(`Maven could not resolve ${DISTRIBUTION_ARTIFACT} (exit ${mvn.status}); see its output above`);
  const tarball = join(download, `pulsar-server-distribution-${PULSAR_VERSION}-bin.tar.gz`);
  // Unpacked beside, then renamed: an interrupted unpack never looks like an installed one.
  const staging = join(root, 'dist', `.unpacking-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const tar = spawnSync('tar', ['-xzf', tarball, '-C', staging], { stdio: 'inherit' });
  if (tar.status !== 0) throw new Error(`could not unpack ${tarball}`);
  const unpacked = join(staging, `apache-pulsar-${PULSAR_VERSION}`);
  if (!existsSync(join(unpacked, 'bin', 'pulsar'))) throw new Error(`${tarball} did not contain apache-pulsar-${PULSAR_VERSION}/bin/pulsar`);
  rmSync(home, { recursive: true, force: true });
  renameSync(unpacked, home);
  rmSync(staging, { recursive: true, force: true });
  rmSync(tarball); // Maven's own repository keeps a copy
  log(`Pulsar ${PULSAR_VERSION} ready in ${home} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  return home;
}

/** Secret key and tokens: made once per instance, kept across restarts (clients keep their tokens). */
async function ensureCredentials(p: InstancePaths): Promise<void> {
  if (!existsSync(p.secretKey)) writeFileSync(p.secretKey, randomBytes(32), { mode: 0o600 });
  const secret = readFileSync(p.secretKey);
  for (const [file, role] of [
    [p.adminToken, ADMIN_ROLE],
    [p.engineToken, ENGINE_ROLE],
  ] as const) {
    if (!existsSync(file)) writeFileSync(file, await mintToken(secret, role), { mode: 0o600 });
  }
}

/** An HS256 token for `role` (Pulsar reads the role from `sub`), signed with the instance's secret. */
export function mintToken(secret: Uint8Array, role: string, expiresInSeconds?: number): Promise<string> {
  const jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(role);
  if (expiresInSeconds !== undefined) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + expiresInSeconds);
  return jwt.sign(secret);
}

export function readInstance(name: string, root = cacheRoot()): Instance | undefined {
  const p = instancePaths(name, root);
  if (!existsSync(p.info)) return undefined;
  return JSON.parse(readFileSync(p.info, 'utf8')) as Instance;
}

/** Is `pid` this instance's broker (not a process that reused the pid of one that is gone)? */
export function isInstanceProcess(pid: number, name: string, root = cacheRoot()): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('PulsarStandaloneStarter') && cmdline.includes(instancePaths(name, root).conf);
  } catch {
    return false;
  }
}

/** Every instance that has a directory in the cache. */
export function instanceNames(root = cacheRoot()): string[] {
  try {
    return readdirSync(join(root, 'instances'));
  } catch {
    return [];
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function adminFor(inst: Pick<Instance, 'webServiceUrl' | 'adminTokenFile'>): PulsarAdmin {
  return new PulsarAdmin({ webServiceUrl: inst.webServiceUrl, token: () => readFileSync(inst.adminTokenFile, 'utf8').trim(), timeoutMs: 10_000 });
}

export interface StartOptions {
  /** Remove the instance's data first (a new store: new epoch, no topics). */
  readonly fresh?: boolean;
  readonly timeoutMs?: number;
  readonly root?: string;
}

/** Starts the instance (or returns it when it is already running and healthy). */
export async function startStandalone(spec: StandaloneSpec = DEFAULT_SPEC, log: Log = () => {}, opts: StartOptions = {}): Promise<Instance> {
  const root = opts.root ?? cacheRoot();
  const p = instancePaths(spec.name, root);
  const running = readInstance(spec.name, root);
  if (running && isInstanceProcess(running.pid, spec.name, root)) {
    if (opts.fresh) throw new Error(`instance ${spec.name} is running (pid ${running.pid}): stop it before a fresh start`);
    await waitHealthy(running, Date.now() + 30_000, running.pid);
    return running;
  }
  const home = ensureDistribution(log, root);
  if (opts.fresh) rmSync(p.data, { recursive: true, force: true });
  mkdirSync(p.logs, { recursive: true });
  mkdirSync(p.data, { recursive: true });
  await ensureCredentials(p);
  writeFileSync(p.conf, standaloneConf(spec, p));
  const logFile = join(p.logs, 'pulsar-standalone.log');
  const out = openSync(logFile, 'a');
  const args = [join(home, 'bin', 'pulsar'), 'standalone', '--config', p.conf, '--no-functions-worker', '--no-stream-storage',
    '--bookkeeper-dir', join(p.data, 'bookkeeper'), '--metadata-dir', join(p.data, 'metadata'), '--bookkeeper-port', String(spec.bookiePort)];
  const t0 = Date.now();
  const child = spawn('bash', args, {
    cwd: home,
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, ...jvmEnv(spec), PULSAR_LOG_DIR: p.logs, PULSAR_LOG_APPENDER: 'Console' },
  });
  child.unref();
  closeSync(out); // the child has its own copy
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not spawn bin/pulsar');
  writeFileSync(p.pid, String(pid));
  const host = spec.bindAddress;
  const inst: Instance = {
    name: spec.name,
    version: PULSAR_VERSION,
    pid,
    serviceUrl: `pulsar://${host}:${spec.brokerPort}`,
    webServiceUrl: `http://${host}:${spec.webPort}`,
    adminTokenFile: p.adminToken,
    engineTokenFile: p.engineToken,
    logFile,
    dataDir: p.data,
    startSeconds: 0,
  };
  log(`starting Pulsar ${PULSAR_VERSION} standalone "${spec.name}" (pid ${pid}) on ${host}: binary ${spec.brokerPort}, admin + WebSocket ${spec.webPort}; log ${logFile}`);
  try {
    await waitHealthy(inst, t0 + (opts.timeoutMs ?? 180_000), pid);
    await prepareNamespace(adminFor(inst), 'public/default', ENGINE_ROLE);
  } catch (error) {
    // Never leave a broker running that no instance.json describes (the next start would spawn a second one on its data).
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n--- last lines of ${logFile} ---\n${tail(logFile, 30)}`);
  }
  const ready: Instance = { ...inst, startSeconds: (Date.now() - t0) / 1000 };
  writeFileSync(p.info, JSON.stringify(ready, null, 2));
  log(`Pulsar standalone "${spec.name}" healthy after ${ready.startSeconds.toFixed(1)} s`);
  return ready;
}

/** The broker's health check: it produces and consumes on its heartbeat topic, through BookKeeper. */
async function waitHealthy(inst: Instance, deadline: number, pid: number): Promise<void> {
  const admin = adminFor(inst);
  let last = '';
  for (;;) {
    if (!isAlive(pid)) throw new Error(`Pulsar exited before it was healthy (${last || 'no answer yet'})`);
    try {
      await admin.get('/admin/v2/brokers/health');
      return;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) throw new Error(`Pulsar not healthy in time: ${last}`);
    await sleep(500);
  }
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** SIGTERM (SIGKILL with `kill9`), then wait for the process to be gone; SIGKILL after `graceMs`. */
export async function stopStandalone(name: string, log: Log = () => {}, opts: { kill9?: boolean; graceMs?: number; root?: string } = {}): Promise<boolean> {
  const p = instancePaths(name, opts.root ?? cacheRoot());
  if (!existsSync(p.pid)) return false;
  const pid = Number(readFileSync(p.pid, 'utf8'));
  rmSync(p.info, { force: true });
  if (!Number.isInteger(pid) || !isInstanceProcess(pid, name, opts.root ?? cacheRoot())) {
    rmSync(p.pid, { force: true }); // gone, or its pid now belongs to another process
    return false;
  }
  process.kill(pid, opts.kill9 ? 'SIGKILL' : 'SIGTERM');
  const deadline = Date.now() + (opts.graceMs ?? 30_000);
  while (isAlive(pid)) {
    if (Date.now() > deadline) {
      log(`Pulsar "${name}" (pid ${pid}) did not stop in time: SIGKILL`);
      process.kill(pid, 'SIGKILL');
      await sleep(200);
      continue;
    }
    await sleep(100);
  }
  rmSync(p.pid, { force: true });
  log(`Pulsar "${name}" (pid ${pid}) stopped`);
  return true;
}

/** Shell lines that point the engine and the tests at a running instance (`eval "$(npm run -s pulsar -- env)"`). */
export function envLines(inst: Instance): string[] {
  return [
    `export PULSAR_URL=${inst.serviceUrl}`,
    `export PULSAR_WEB_URL=${inst.webServiceUrl}`,
    `export PULSAR_ADMIN_URL=${inst.webServiceUrl}`,
    `export PULSAR_TOKEN_FILE=${inst.engineTokenFile}`,
    `export PULSAR_ADMIN_TOKEN_FILE=${inst.adminTokenFile}`,
  ];
}
