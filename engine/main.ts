/**
 * `npm start` entry: flags/env -> config -> engine. Exit codes: 0 clean stop, 1 failed to start,
 * 2 bad configuration.
 */
import cluster from 'node:cluster';
import { runPrimary } from './cluster/primary.ts';
import { runWorker } from './cluster/worker.ts';
import { isEngineError } from './errors.ts';
import { isLoopbackHost, openFileLimit, parseConfig, validateSecurity } from './config.ts';
import { createLogger } from './logger.ts';
import { startEngine } from './server.ts';
import { stopOnSignals } from './stop-on-signal.ts';

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseConfig(process.argv.slice(2), process.env);
    if ('config' in parsed) validateSecurity(parsed.config);
  } catch (err) {
    process.stderr.write(`configuration error: ${isEngineError(err) ? err.message : String(err)}\n(see npm start -- --help)\n`);
    process.exit(2);
  }
  if ('help' in parsed) {
    process.stdout.write(parsed.help);
    return;
  }
  const config = parsed.config;
  const logger = createLogger(config.logLevel);
  // Several processes (issue 6): a cluster worker runs one engine; the primary only supervises.
  if (cluster.isWorker) return runWorker(config, logger);
  const authOn = config.auth.hsSecret !== undefined || config.auth.publicKeyPem !== undefined;
  if (!authOn && isLoopbackHost(config.host)) {
    logger.warn({ host: config.host }, 'authentication is OFF (no key configured): allowed only because the engine is bound to loopback');
  }
  if (config.workers > 1) return runPrimary(config, logger);
  let engine;
  try {
    engine = await startEngine(config, logger);
  } catch (err) {
    logger.fatal({ err }, 'engine failed to start');
    process.exit(1);
  }
  logger.info(
    {
      host: config.host,
      port: engine.port,
      mqttPort: engine.mqttPort,
      dataDir: config.dataDir,
      log: engine.log.kind,
      uws: engine.uwsBuild,
      auth: authOn ? 'on' : 'off',
      openFileLimit: openFileLimit(),
      maxConnections: config.limits.maxConnections,
    },
    `engine listening on http://${config.host}:${engine.port} (WebSocket /v1/ws); this process holds up to ${config.limits.maxConnections} connections (open-file limit ${openFileLimit()})`,
  );

  stopOnSignals(engine, logger);
}

void main();
