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
import { DEFAULT_SPEC, PULSAR_VERSION, cacheRoot } from './config.ts';
import { ensureDistribution, envLines, instanceNames, isAlive, readInstance, startStandalone, stopStandalone } from './standalone.ts';

const USAGE = `usage: npm run pulsar -- start|stop|status|env|fetch [--name NAME] [--fresh] [--all]
  Pulsar ${PULSAR_VERSION} standalone on 127.0.0.1 (binary ${DEFAULT_SPEC.brokerPort}, admin + WebSocket ${DEFAULT_SPEC.webPort}), cache ${cacheRoot()}`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  let name = DEFAULT_SPEC.name;
  let fresh = false;
  let all = false;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--name' && rest[i + 1]) name = rest[++i]!;
    else if (rest[i] === '--fresh') fresh = true;
    else if (rest[i] === '--all') all = true;
    else {
      console.error(`unknown argument ${rest[i]}\n${USAGE}`);
      return 2;
    }
  }
  const log = (line: string): void => console.error(`[pulsar] ${line}`);
  switch (command) {
    case 'start': {
      const inst = await startStandalone({ ...DEFAULT_SPEC, name }, log, { fresh });
      console.log(envLines(inst).join('\n'));
      return 0;
    }
    case 'stop':
      for (const n of all ? instanceNames() : [name]) if (!(await stopStandalone(n, log))) log(`"${n}" was not running`);
      return 0;
    case 'status': {
      const inst = readInstance(name);
      if (!inst || !isAlive(inst.pid)) {
        console.log(`${name}: not running`);
        return 1;
      }
      console.log(`${name}: running, pid ${inst.pid}, Pulsar ${inst.version}, ${inst.serviceUrl}, ${inst.webServiceUrl}, log ${inst.logFile}`);
      return 0;
    }
    case 'env': {
      const inst = readInstance(name);
      if (!inst || !isAlive(inst.pid)) {
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
