/**
 * `npm run pulsar -- <command> [--name N] [--fresh]`: a real Pulsar standalone for development,
 * tests and CI (./standalone.ts).
 *
 *   start    download once (Maven Central), start in the background, wait until healthy, print env
 *   stop     SIGTERM, wait (SIGKILL after 30 s); --all: every instance (tests start their own)
 *   status   running or not, with its URLs
 *   env      shell lines for the engine and tests: eval "$(npm run -s pulsar -- env)"
 *   fetch    only download and unpack the distribution
 */
import { DEFAULT_SPEC, PULSAR_VERSION, cacheRoot, type StandaloneSpec } from './config.ts';
import { ensureDistribution, envLines, instanceNames, isInstanceProcess, readInstance, startStandalone, stopStandalone } from './standalone.ts';

const USAGE = `usage: npm run pulsar -- start|stop|status|env|fetch [--name NAME] [--fresh] [--all]
       start also: [--bind ADDR --interface IF] [--broker-port N] [--web-port N] [--bookie-port N] (a broker for another address, e.g. a fleet bridge)
  Pulsar ${PULSAR_VERSION} standalone on 127.0.0.1 (binary ${DEFAULT_SPEC.brokerPort}, admin + WebSocket ${DEFAULT_SPEC.webPort}), cache ${cacheRoot()}`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  let name = DEFAULT_SPEC.name;
  let fresh = false;
  let all = false;
  let spec: StandaloneSpec = DEFAULT_SPEC;
  const port = (v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`not a port: ${v}`);
    return n;
  };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === '--name' && rest[i + 1]) name = rest[++i]!;
    else if (a === '--fresh') fresh = true;
    else if (a === '--all') all = true;
    else if (a === '--bind' && rest[i + 1]) spec = { ...spec, bindAddress: rest[++i]! };
    else if (a === '--interface' && rest[i + 1]) spec = { ...spec, interface: rest[++i]! };
    else if (a === '--broker-port') spec = { ...spec, brokerPort: port(rest[++i]) };
    else if (a === '--web-port') spec = { ...spec, webPort: port(rest[++i]) };
    else if (a === '--bookie-port') spec = { ...spec, bookiePort: port(rest[++i]) };
    else {
      console.error(`unknown argument ${rest[i]}\n${USAGE}`);
      return 2;
    }
  }
  const log = (line: string): void => console.error(`[pulsar] ${line}`);
  switch (command) {
    case 'start': {
      const inst = await startStandalone({ ...spec, name }, log, { fresh });
      console.log(envLines(inst).join('\n'));
      return 0;
    }
    case 'stop':
      for (const n of all ? instanceNames() : [name]) if (!(await stopStandalone(n, log))) log(`"${n}" was not running`);
      return 0;
    case 'status': {
      const inst = readInstance(name);
      if (!inst || !isInstanceProcess(inst.pid, name)) {
        console.log(`${name}: not running`);
        return 1;
      }
      console.log(`${name}: running, pid ${inst.pid}, Pulsar ${inst.version}, ${inst.serviceUrl}, ${inst.webServiceUrl}, log ${inst.logFile}`);
      return 0;
    }
    case 'env': {
      const inst = readInstance(name);
      if (!inst || !isInstanceProcess(inst.pid, name)) {
        console.error(`${name}: not running (npm run pulsar -- start)`);
        return 1;
      }
      console.log(envLines(inst).join('\n'));
      return 0;
    }
    case 'fetch':
      ensureDistribution(log);
      return 0;
    default:
      console.error(USAGE);
      return command === undefined || command === '--help' ? 0 : 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`[pulsar] ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
