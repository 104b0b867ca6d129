/**
 * The one place that turns the configuration into a concrete AreaLog (server.ts calls it; nothing
 * else names an implementation). pulsar-client is imported only on the `pulsar` branch, through
 * ./pulsar/loader.ts; when its native library is missing that branch fails with an error naming
 * it, and the embedded log keeps working.
 */
import { readFileSync } from 'node:fs';
import type { ClientConfig, LogLevel } from 'pulsar-client';
import type { EngineConfig } from '../config.types.ts';
import type { Logger } from '../logger.ts';
import { EmbeddedLog } from './embedded.ts';
import { loadPulsarClient } from './pulsar/loader.ts';
import type { PulsarModule } from './pulsar/options.ts';
import { PulsarLog } from './pulsar/pulsar-log.ts';
import type { AreaLog } from './types.ts';

export interface LogHooks {
  /** A message the log could not decode went to the dead-letter topic (metric hook). */
  readonly onDeadLetter?: (area: string, reason: string) => void;
  /** Loads pulsar-client (tests inject a double or a failing loader). */
  readonly loadPulsar?: () => Promise<PulsarModule>;
}

export async function createLog(config: EngineConfig, logger: Logger, hooks: LogHooks = {}): Promise<AreaLog> {
  const onError = (err: unknown, where: string): void => logger.error({ err, where }, 'log background error');
  const retention = { maxCount: config.retention.maxCount, maxAgeMs: config.retention.maxAgeMs };
  if (config.log.kind === 'embedded') {
    return new EmbeddedLog({
      dir: config.dataDir,
      retention,
      idempotencyTtlMs: config.retention.idempotencyTtlMs,
      durability: config.durability,
      tailPollMs: config.tailPollMs,
      onError,
    });
  }
  const pulsar = await (hooks.loadPulsar ?? loadPulsarClient)();
  const p = config.log.pulsar;
  if (p.url === undefined) throw new Error('log.kind pulsar without log.pulsar.url');
  const tokenFile = p.tokenFile;
  const token = tokenFile !== undefined ? () => readFileSync(tokenFile, 'utf8').trim() : p.token;
  const clientLogger = logger.child({ component: 'pulsar-client' });
  const client: ClientConfig = {
    serviceUrl: p.url,
    operationTimeoutSeconds: 30,
    // Listeners of different readers run on these threads (one reader stays on one thread, in order).
    messageListenerThreads: 4,
    ...(token !== undefined && { authentication: new pulsar.AuthenticationToken({ token }) }),
    ...(p.tlsTrustCertsFile !== undefined && { tlsTrustCertsFilePath: p.tlsTrustCertsFile }),
    log: (level: LogLevel, file: string, line: number, message: string) => {
      const entry = { file, line };
      // LogLevel: DEBUG 0, INFO 1, WARN 2, ERROR 3. The C++ client is chatty at INFO.
      if (level >= 3) clientLogger.error(entry, message);
      else if (level === 2) clientLogger.warn(entry, message);
      else clientLogger.debug(entry, message);
    },
  };
  return new PulsarLog({
    pulsar,
    client,
    namespace: p.namespace,
    retention,
    idempotencyTtlMs: config.retention.idempotencyTtlMs,
    deadLetterSuffix: p.deadLetterSuffix,
    sendTimeoutMs: p.sendTimeoutMs,
    cacheRecords: p.cacheRecords,
    checkpointIntervalMs: p.checkpointIntervalMs,
    catchUpIdleMs: p.catchUpIdleMs,
    onError,
    ...(hooks.onDeadLetter && { onDeadLetter: hooks.onDeadLetter }),
  });
}
