/**
 * The one place that turns the configuration into a concrete AreaLog (server.ts calls it; nothing
 * else names an implementation). The Pulsar client is chosen on the `pulsar` branch only
 * (`--pulsar-client`, ./pulsar/loader.ts): the native pulsar-client is imported only there, and
 * when its library is missing `auto` goes on with Pulsar's WebSocket API (said in one log line).
 */
import { readFileSync } from 'node:fs';
import type { EngineConfig } from '../config.types.ts';
import type { Logger } from '../logger.ts';
import { EmbeddedLog } from './embedded.ts';
import type { ClientConfig, PulsarModule } from './pulsar/client-api.ts';
import { loadClient, type LoadedClient } from './pulsar/loader.ts';
import { PulsarLog } from './pulsar/pulsar-log.ts';
import type { AreaLog } from './types.ts';

export interface LogHooks {
  /** A message the log could not decode went to the dead-letter topic (metric hook). */
  readonly onDeadLetter?: (area: string, reason: string) => void;
  /** Picks the Pulsar client (tests inject a double or a failing loader). */
  readonly loadPulsar?: () => Promise<LoadedClient | PulsarModule>;
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
      onWritable: (writable, reason) => {
        if (writable) logger.info({ reason }, 'embedded log takes writes again');
        else logger.error({ reason, dataDir: config.dataDir }, 'embedded log cannot take writes: publishes answer 503 log_unavailable until a probe write succeeds');
      },
    });
  }
  const p = config.log.pulsar;
  const loaded = await (hooks.loadPulsar ?? (() => loadClient(p.client)))();
  const pulsar = 'module' in loaded ? loaded.module : loaded;
  const serviceUrl = pulsar.kind === 'websocket' ? p.webUrl : (p.url ?? p.webUrl);
  if (serviceUrl === undefined) throw new Error('log.kind pulsar without a Pulsar URL');
  logger.info({ pulsarClient: pulsar.kind, serviceUrl, ...('reason' in loaded && { reason: loaded.reason }) }, `Pulsar client: ${pulsar.kind}`);
  const tokenFile = p.tokenFile;
  const token = tokenFile !== undefined ? () => readFileSync(tokenFile, 'utf8').trim() : p.token;
  const clientLogger = logger.child({ component: `pulsar-client-${pulsar.kind}` });
  const client: ClientConfig = {
    serviceUrl,
    ...(token !== undefined && { token }),
    ...(p.tlsTrustCertsFile !== undefined && { tlsTrustCertsFile: p.tlsTrustCertsFile }),
    // The C++ client is chatty at INFO: only warnings and errors are kept.
    log: (level, message, fields) => {
      if (level === 'error') clientLogger.error(fields ?? {}, message);
      else if (level === 'warn') clientLogger.warn(fields ?? {}, message);
      else clientLogger.debug(fields ?? {}, message);
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
