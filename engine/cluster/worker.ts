/**
 * One engine process under the primary (./primary.ts): the same engine as a single-process run,
 * on the port the primary gives it, with
 *   - the `worker` label on its per-process metrics (abe_connections{worker="i"});
 *   - a /metrics that answers for EVERY process: the scrape is forwarded to the primary, which
 *     aggregates all workers (./cluster-metrics.ts); this worker answers the primary's requests
 *     for its own registry as JSON;
 *   - SIGTERM/SIGINT: close sockets with going_away, flush the log, exit 0 (as main.ts).
 *
 * MQTT (issue 3) needs no hook here: its `net.Server.listen(config.mqttPort, host)` inside a
 * cluster worker is served from one listening handle that the primary shares with all workers
 * (port 0 included: every worker gets the same port; the config's port must NOT be replaced by
 * the bound number, which would be a second bind). Engine.mqttPort is reported to the primary
 * and printed at start.
 */
import { Registry } from 'prom-client';
import type { EngineConfig } from '../config.types.ts';
import type { Logger } from '../logger.ts';
import { startEngine, type Engine } from '../server.ts';
import { stopOnSignals } from '../stop-on-signal.ts';
import { ENV_INDEX, ENV_PORT, isPrimaryMessage, type PrimaryToWorker, type WorkerToPrimary } from './ipc.ts';

const SCRAPE_TIMEOUT_MS = 15_000;

function send(m: WorkerToPrimary): void {
  process.send?.(m);
}

/** GET /metrics in a worker: the primary's aggregate over every process. */
export class ClusterScrape extends Registry {
  private next = 1;
  private readonly pending = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();

  override metrics(): Promise<string> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error('the primary did not answer the metrics request'));
      }, SCRAPE_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      send({ type: 'abe:scrape', id });
    });
  }

  /** The primary's answer. */
  settle(m: Extract<PrimaryToWorker, { type: 'abe:scrape-result' }>): void {
    const p = this.pending.get(m.id);
    if (p === undefined) return;
    this.pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.text !== undefined) p.resolve(m.text);
    else p.reject(new Error(m.error ?? 'metrics aggregation failed'));
  }
}

function envPort(name: string, fallback: number): number {
  const v = process.env[name];
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : fallback;
}

export async function runWorker(config: EngineConfig, rootLogger: Logger): Promise<void> {
  const index = process.env[ENV_INDEX] ?? '0';
  const logger = rootLogger.child({ worker: Number(index) });
  const cfg: EngineConfig = { ...config, port: envPort(ENV_PORT, config.port) };
  const scrape = new ClusterScrape();
  let engine: Engine | undefined;
  process.on('message', (m: unknown) => {
    if (!isPrimaryMessage(m)) return;
    if (m.type === 'abe:scrape-result') scrape.settle(m);
    else if (m.type === 'abe:metrics-json') {
      const id = m.id;
      if (engine === undefined) return send({ type: 'abe:metrics-json-result', id, error: 'not started' });
      engine.metrics.registry.getMetricsAsJSON().then(
        (metrics) => send({ type: 'abe:metrics-json-result', id, metrics }),
        (err: unknown) => send({ type: 'abe:metrics-json-result', id, error: String(err) }),
      );
    }
  });
  try {
    engine = await startEngine(cfg, logger, { worker: index, scrape, sharedPort: true });
  } catch (err) {
    logger.fatal({ err }, 'engine worker failed to start');
    logger.flush();
    process.exit(1);
  }
  const mqttPort = (engine as { mqttPort?: unknown }).mqttPort;
  send({ type: 'abe:listening', port: engine.port, pid: process.pid, ...(typeof mqttPort === 'number' && { mqttPort }) });
  logger.info(
    { host: cfg.host, port: engine.port, pid: process.pid, log: engine.log.kind, uws: engine.uwsBuild, maxConnections: cfg.limits.maxConnections },
    `engine worker ${index} (pid ${process.pid}) listening on ${cfg.host}:${engine.port}; it holds up to ${cfg.limits.maxConnections} connections`,
  );

  stopOnSignals(engine, logger);
}
