/**
 * What a run talks to: the engine (started here, N processes on one port; on the embedded log or
 * on the Pulsar broker of `npm run pulsar`), the bare uWS broadcaster (started here, same process
 * count), an engine already running at host:port, or any MQTT broker at mqtt://host:port (e.g.
 * Mosquitto: MQTT vehicles and an MQTT publisher).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DEFAULT_SPEC, ENGINE_ROLE } from '../scripts/pulsar/config.ts';
import { isInstanceProcess, readInstance } from '../scripts/pulsar/standalone.ts';
import { PulsarAdmin, ownNamespace } from '../engine/log/pulsar/admin.ts';
import net from 'node:net';
import { signToken } from '../engine/auth/testing.ts';
import type { Cli, TargetSpec } from './cli.ts';
import { processTree, startEngine, type EngineHandle } from './engine-process.ts';
import type { WorkerInit } from './ipc.ts';
import { mqttSender } from './mqtt-publisher.ts';
import { httpSender, type Sender } from './publisher.ts';
import { httpGet, log, REPO, sleep } from './swarm.ts';

export interface Target {
  readonly spec: TargetSpec;
  /** Processes the target depends on but that are not it (the Pulsar broker): CPU and RSS on their own lines. */
  readonly sidecars: readonly { readonly role: string; readonly pid: number }[];
  /** Undo what opening did beyond the engine (the run's Pulsar namespace). */
  close(): Promise<void>;
  /** engine / bare / external (an engine) / mqtt (a broker). */
  readonly kind: 'engine' | 'bare' | 'external' | 'mqtt';
  readonly host: string;
  readonly port: number;
  readonly engine: EngineHandle | undefined;
  /** Bearer token for vehicles and the REST publisher (authentication on). */
  readonly token: string | undefined;
  /** For the vehicle workers' init: where MQTT vehicles connect. */
  readonly mqtt: WorkerInit['mqtt'];
  /** The target's processes now (children included). */
  pids(): number[];
  /** /metrics text (undefined for a broker or on failure). */
  scrape(): Promise<string | undefined>;
  sender(areas: readonly string[], concurrency: number): Promise<Sender>;
}

export interface TargetOptions {
  readonly outBase: string;
  readonly spread: 'none' | 'dest';
  /** The swarm's destination addresses (bare listens on each). */
  readonly destinations: readonly string[];
  readonly runId: string;
  readonly tokenLifetimeSeconds: number;
  readonly usesMqtt: boolean;
}

/** Starts (or finds) the target and waits until it answers. */
export async function openTarget(cli: Cli, spec: TargetSpec, o: TargetOptions): Promise<Target> {
  const clientIdPrefix = `lt-${o.runId}-`;
  if (spec.kind === 'mqtt') {
    await waitTcp(spec.host, spec.port);
    return {
      spec, kind: 'mqtt', host: spec.host, port: spec.port, engine: undefined, token: undefined, sidecars: [], close: async () => {},
      mqtt: { port: spec.port, version: 5, clientIdPrefix, offsetFrom: 'seq' },
      pids: () => cli.enginePids.flatMap((p) => processTree(p)),
      scrape: async () => undefined,
      sender: (areas) => mqttSender(spec.host, spec.port, areas),
    };
  }
  if (spec.kind === 'bare' && o.usesMqtt) throw new Error('the bare broadcaster speaks WebSocket only: no MQTT vehicles');
  let engine: EngineHandle | undefined;
  let token = cli.token;
  let hsSecret: string | undefined;
  const pulsar = spec.kind === 'engine' && spec.log === 'pulsar' ? await pulsarLog(o.runId) : undefined;
  if (spec.kind !== 'external') {
    // Bound beyond loopback the engine requires authentication: a random secret for this run only.
    hsSecret = o.spread === 'dest' && spec.kind === 'engine' ? randomBytes(32).toString('base64url') : undefined;
    engine = await startEngine({
      repoRoot: REPO,
      kind: spec.kind,
      workers: cli.engineWorkers,
      logPath: `${o.outBase}.engine.log`,
      extraArgs: [...(pulsar?.args ?? []), ...cli.engineArgs],
      hosts: [...new Set(o.destinations)],
      ...(hsSecret !== undefined && { bindHost: '0.0.0.0', hsSecret }),
    });
    if (hsSecret !== undefined) {
      const exp = Math.floor(Date.now() / 1000) + o.tokenLifetimeSeconds;
      // ops: the run scrapes /metrics, which needs the ops right with authentication on.
      token = await signToken({ sub: 'loadtest', exp, subscribe: ['loadtest:*'], publish: ['loadtest:*'], ops: true }, { alg: 'HS256', secret: hsSecret });
    }
  }
  const { host, port } = engine ?? (spec as { host: string; port: number });
  for (let i = 0; ; i++) {
    const r = await httpGet(host, port, '/readyz').catch((err: Error) => ({ status: 0, body: err.message }));
    if (r.status === 200) break;
    if (i >= 50) throw new Error(`target at ${host}:${port} not ready: ${r.status} ${r.body.slice(0, 200)}`);
    await sleep(200);
  }
  const mqttPort = engine?.mqttPort;
  if (o.usesMqtt && mqttPort === undefined) throw new Error(`MQTT vehicles need the engine's MQTT port${engine === undefined ? ' (not known for an external engine: use --target mqtt://host:port)' : ''}`);
  return {
    spec,
    sidecars: pulsar === undefined ? [] : [{ role: `pulsar broker (${pulsar.version})`, pid: pulsar.pid }],
    close: async () => pulsar?.drop(),
    kind: spec.kind,
    host,
    port,
    engine,
    token,
    mqtt: mqttPort === undefined ? undefined : { port: mqttPort, version: 5, clientIdPrefix, offsetFrom: 'property', ...(hsSecret !== undefined && { tokenSecret: hsSecret }) },
    pids: () => (engine !== undefined ? engine.pids() : cli.enginePids.flatMap((p) => processTree(p))),
    // The bare broadcaster has no /metrics.
    scrape: async () =>
      spec.kind === 'bare'
        ? undefined
        : httpGet(host, port, '/metrics', 5000, token === undefined ? {} : { authorization: `Bearer ${token}` }).then((r) => (r.status === 200 ? r.body : undefined), () => undefined),
    sender: async (areas, concurrency) => httpSender({ host, port, ...(token !== undefined && { token }) }, areas, concurrency),
  };
}

/**
 * The engine's flags for the Pulsar log: the running standalone of `npm run pulsar` (or a broker
 * named in the environment, as `npm run pulsar -- env` prints it), a namespace of this run's own
 * (set up as the engine needs, deleted after the run), the WebSocket client.
 */
export async function pulsarLog(runId: string): Promise<{ args: string[]; pid: number; version: string; drop(): Promise<void> }> {
  const inst = readInstance(DEFAULT_SPEC.name);
  const webUrl = process.env.PULSAR_WEB_URL ?? inst?.webServiceUrl;
  const tokenFile = process.env.PULSAR_TOKEN_FILE ?? inst?.engineTokenFile;
  const adminTokenFile = process.env.PULSAR_ADMIN_TOKEN_FILE ?? inst?.adminTokenFile;
  if (!webUrl || !tokenFile || !adminTokenFile || !inst || !isInstanceProcess(inst.pid, DEFAULT_SPEC.name)) throw new Error('--target engine-pulsar: no Pulsar broker running (npm run pulsar -- start)');
  const admin = new PulsarAdmin({ webServiceUrl: webUrl, token: () => readFileSync(adminTokenFile, 'utf8').trim() });
  const ns = await ownNamespace(admin, `public/abe-lt-${runId}`, ENGINE_ROLE, log);
  return {
    args: ['--log', 'pulsar', '--pulsar-client', 'websocket', '--pulsar-web-url', webUrl, '--pulsar-token-file', tokenFile, '--pulsar-namespace', ns.namespace],
    pid: inst.pid,
    version: `Pulsar ${inst.version}`,
    drop: ns.drop,
  };
}

async function waitTcp(host: string, port: number): Promise<void> {
  for (let i = 0; ; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host, port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (i >= 50) throw new Error(`nothing listens on ${host}:${port}`);
    await sleep(200);
  }
}
