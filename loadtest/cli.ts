/** `npm run loadtest` flags -> what to run. */
import { existsSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadScenario, type ResolvedScenario } from './scenario.ts';
import { HERE } from './swarm.ts';

/** Above this many connections, `--spread auto` spreads destinations (28,232 ephemeral ports per destination). */
export const SPREAD_AUTO_LIMIT = 20_000;
/** Most vehicles on one destination address:port (below the kernel's ~14,000 port-search knee). */
export const PER_DESTINATION = 10_000;

export const USAGE = `Usage: npm run loadtest -- <scenario.json | name> [flags]
       npm run loadtest -- --table <result.json>... [--out <file.md>]

  <scenario>            a file, or a name under loadtest/scenarios/ (e.g. smoke-1k, ntt-100k)
  --target <list>       comma-separated targets, run one after the other in the same invocation
                        (same machine state, one comparison table at the end):
                          engine (or self, the default): start the engine, --workers N, fresh data dir
                          engine-pulsar: the same engine on the Pulsar log (the broker of "npm run pulsar -- start",
                            or PULSAR_WEB_URL + PULSAR_TOKEN_FILE + PULSAR_ADMIN_TOKEN_FILE), a fresh namespace;
                            the broker's CPU and RSS are reported on their own line
                          bare: start the bare uWS broadcaster (loadtest/bare-uws.ts), same process count
                          host:port: an engine (protocol v1) already running there (loopback only)
                          mqtt://host:port: any MQTT broker (e.g. Mosquitto): MQTT vehicles
                            (--set transport=mqtt-qos0|mqtt-qos1) and a QoS 1 MQTT publisher
  --engine-workers <n>  engine / bare processes (default: scenario engineWorkers, else ceil(connections / 18,000))
  --out <file.json>     report path (default loadtest/results/<scenario name>[-<target>].json; .md and .svg beside it)
  --workers <n>         vehicle worker processes (default ceil(connections / vehiclesPerWorker))
  --spread auto|none|dest
                        none: every socket goes to 127.0.0.1 (fine up to ~25K per engine port);
                        dest: worker w connects to 127.0.0.(1+w), each destination has its own
                        ~28K ephemeral ports; a self-started engine then binds 0.0.0.0 with a
                        random auth secret and the vehicles share one signed token;
                        auto (default): dest above ${SPREAD_AUTO_LIMIT.toLocaleString('en-US')} connections, else none
  --set key=value       override a scenario key (repeatable), e.g. --set transport=ws-msgpack --set acks=false
  --engine-arg <flag>   extra flag for a self-started engine (repeatable), e.g. --engine-arg=--durability=commit
  --engine-pid <pids>   with --target host:port: the engine's pid(s), comma-separated, for CPU and RSS (children included)
  --token <jwt>         bearer token for an engine with authentication on
  --table <files>       no run: a comparison table (Markdown) and latency chart (SVG) of earlier results
  -h, --help
`;

export type TargetSpec =
  | { readonly kind: 'engine'; readonly log?: 'pulsar' }
  | { readonly kind: 'bare' }
  | { readonly kind: 'external'; readonly host: string; readonly port: number }
  | { readonly kind: 'mqtt'; readonly host: string; readonly port: number };

export interface Cli {
  readonly scenario: ResolvedScenario;
  readonly targets: readonly TargetSpec[];
  /** Report path without extension; with several targets `-<target>` is appended. */
  readonly outBase: string;
  readonly workers?: number;
  readonly engineWorkers: number;
  readonly spread: 'auto' | 'none' | 'dest';
  readonly engineArgs: readonly string[];
  readonly enginePids: readonly number[];
  readonly token?: string;
}

export type Command = { readonly run: Cli } | { readonly table: readonly string[]; readonly out?: string };

export function targetName(t: TargetSpec): string {
  if (t.kind === 'engine' && t.log === 'pulsar') return 'engine-pulsar';
  return t.kind === 'external' ? `${t.host}:${t.port}` : t.kind === 'mqtt' ? `mqtt://${t.host}:${t.port}` : t.kind;
}

function parseTarget(v: string): TargetSpec {
  if (v === 'self' || v === 'engine') return { kind: 'engine' };
  // The engine on the Pulsar log: the broker of `npm run pulsar` (or PULSAR_WEB_URL + token files), a fresh namespace per run.
  if (v === 'engine-pulsar') return { kind: 'engine', log: 'pulsar' };
  if (v === 'bare') return { kind: 'bare' };
  const broker = v.startsWith('mqtt://');
  const m = /^(.+):(\d{1,5})$/.exec(broker ? v.slice('mqtt://'.length) : v);
  if (m === null) throw new Error(`--target: "${v}" is not engine, engine-pulsar, bare or host:port`);
  const host = m[1].replace(/^\[|\]$/g, '');
  // This harness only ever sends traffic to this machine's loopback.
  if (!(host === 'localhost' || host === '::1' || (isIPv4(host) && host.startsWith('127.')))) throw new Error(`--target ${host}: only loopback targets are allowed`);
  return { kind: broker ? 'mqtt' : 'external', host: host === 'localhost' ? '127.0.0.1' : host, port: Number(m[2]) };
}

export function parseCli(argv: string[]): Command {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      target: { type: 'string', default: 'engine' },
      out: { type: 'string' },
      workers: { type: 'string' },
      'engine-workers': { type: 'string' },
      spread: { type: 'string', default: 'auto' },
      set: { type: 'string', multiple: true },
      'engine-arg': { type: 'string', multiple: true },
      'engine-pid': { type: 'string' },
      token: { type: 'string' },
      table: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.table === true) {
    if (positionals.length === 0) throw new Error('--table needs result files');
    return { table: positionals, ...(values.out !== undefined && { out: values.out }) };
  }
  if (values.help === true || positionals.length !== 1) {
    process.stdout.write(USAGE);
    process.exit(values.help === true ? 0 : 2);
  }
  let path = positionals[0];
  if (!existsSync(path) && existsSync(join(HERE, 'scenarios', `${path}.json`))) path = join(HERE, 'scenarios', `${path}.json`);
  const scenario = loadScenario(path, values.set ?? []);
  const targets = (values.target ?? 'engine').split(',').filter(Boolean).map(parseTarget);
  if (targets.length === 0) throw new Error('--target: nothing to run');
  const int = (v: string | undefined, name: string): number | undefined => {
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new Error(`--${name} must be a positive integer`);
    return Number(v);
  };
  const spread = values.spread ?? 'auto';
  if (spread !== 'auto' && spread !== 'none' && spread !== 'dest') throw new Error(`--spread must be auto, none or dest, got "${spread}"`);
  const pids = (values['engine-pid'] ?? '').split(',').filter(Boolean).map((p) => int(p, 'engine-pid')!);
  return {
    run: {
      scenario,
      targets,
      spread,
      outBase: resolve(values.out ?? join(HERE, 'results', `${scenario.name}.json`)).replace(/\.json$/, ''),
      workers: int(values.workers, 'workers'),
      engineWorkers: int(values['engine-workers'], 'engine-workers') ?? scenario.engineWorkers,
      engineArgs: values['engine-arg'] ?? [],
      enginePids: pids,
      token: values.token,
    },
  };
}
