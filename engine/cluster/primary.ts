/**
 * `--workers N` (N > 1): this process is the primary. It runs no engine; it forks N engine workers
 * (node:cluster, same entry and flags), supervises them and answers for all of them.
 *
 * Ports. Every worker's uWS app listens on the same HTTP/WebSocket port with SO_REUSEPORT (uWS's
 * default on Linux): the kernel spreads new connections over the listening processes. With
 * `--port 0` the primary picks a free port first (a uWS socket bound to port 0 cannot be
 * joined). The MQTT listener is a node `net` server: in a cluster worker its listen() goes
 * through the primary, which shares one listening handle with every worker
 * (NODE_CLUSTER_SCHED_POLICY=rr, the Linux default: the primary accepts and hands connections
 * round-robin; `none`: the kernel spreads them).
 *
 * The log. Every worker opens the same LMDB store: appends are serialized by LMDB's writer lock,
 * so offsets and the epoch are the same everywhere; each worker tails the areas its vehicles use
 * with its own cursors and sees other workers' appends by polling (--tail-poll-ms).
 *
 * Restarts: ./restart-policy.ts. Metrics: ./cluster-metrics.ts. Stop: SIGTERM/SIGINT is passed
 * to every worker as SIGTERM (each closes its sockets with going_away, flushes, exits 0); the
 * primary exits 0 when all of them did. If the primary itself dies, the workers exit (IPC gone).
 */
import cluster, { type Worker } from 'node:cluster';
import net from 'node:net';
import type { EngineConfig } from '../config.types.ts';
import { openFileLimit } from '../config.ts';
import type { Logger } from '../logger.ts';
import { ClusterMetrics } from './cluster-metrics.ts';
import { ENV_INDEX, ENV_PORT, isWorkerMessage, type MetricsJson, type WorkerToPrimary } from './ipc.ts';
import { RestartPolicy, type RestartPolicyOptions } from './restart-policy.ts';

interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  pid: number | undefined;
  ready: boolean;
  givenUp: boolean;
  startedAt: number;
  restartTimer: NodeJS.Timeout | undefined;
}

export interface PrimaryOptions {
  readonly restartPolicy?: RestartPolicyOptions;
  /** How long a worker may take to answer a metrics request before the scrape goes on without it. */
  readonly scrapeTimeoutMs?: number;
  readonly startTimeoutMs?: number;
}

/** Capacity line printed at start: N processes x per-process limit. */
export function capacity(config: EngineConfig, limit = openFileLimit()): { perProcess: number; total: number; text: string } {
  const perProcess = config.limits.maxConnections;
  const total = perProcess * config.workers;
  return {
    perProcess,
    total,
    text: `${config.workers} processes x ${perProcess.toLocaleString('en-US')} connections = ${total.toLocaleString('en-US')} connections (per-process limit from the open-file limit ${limit})`,
  };
}

export async function runPrimary(config: EngineConfig, rootLogger: Logger, options: PrimaryOptions = {}): Promise<void> {
  const logger = rootLogger.child({ component: 'primary' });
  const policy = new RestartPolicy(options.restartPolicy);
  const scrapeTimeoutMs = options.scrapeTimeoutMs ?? 3000;
  const slots: Slot[] = Array.from({ length: config.workers }, (_, index) => ({ index, worker: undefined, pid: undefined, ready: false, givenUp: false, startedAt: 0, restartTimer: undefined }));
  const metrics = new ClusterMetrics(config.workers, () => slots);
  let port = config.port;
  let mqttPort: number | undefined;
  let stopping = false;
  let started = false;
  let nextRequest = 1;
  const pendingJson = new Map<number, (m: MetricsJson | undefined) => void>();
  const readyWaiters = new Set<() => void>();

  const fork = (slot: Slot): void => {
    // The MQTT port is NOT pinned: node:cluster shares one listening handle per (host, port as
    // configured) key, so every worker (and a restarted one) asking for the configured port, 0
    // included, joins the same handle; asking for the bound number would be a second bind.
    const worker = cluster.fork({ [ENV_INDEX]: String(slot.index), [ENV_PORT]: String(port) });
    slot.worker = worker;
    slot.pid = worker.process.pid;
    slot.ready = false;
    slot.startedAt = Date.now();
    worker.on('message', (m: unknown) => {
      if (isWorkerMessage(m)) onMessage(slot, worker, m);
    });
    worker.on('exit', (code, signal) => onExit(slot, worker, code, signal));
    // An IPC write racing the worker's death fails with EPIPE asynchronously; unhandled, that
    // 'error' event would take the primary (and so every worker) down. The exit handler restarts.
    worker.on('error', (err) => logger.warn({ err, worker: slot.index, pid: slot.pid }, 'worker IPC error'));
  };

  const onMessage = (slot: Slot, worker: Worker, m: WorkerToPrimary): void => {
    switch (m.type) {
      case 'abe:listening':
        if (slot.worker !== worker) return;
        slot.ready = true;
        slot.pid = m.pid;
        if (m.mqttPort !== undefined) mqttPort ??= m.mqttPort;
        if (started) logger.info({ worker: slot.index, pid: m.pid, port: m.port }, `engine worker ${slot.index} is back (pid ${m.pid})`);
        for (const w of [...readyWaiters]) w();
        return;
      case 'abe:metrics-json-result':
        pendingJson.get(m.id)?.(m.metrics);
        return;
      case 'abe:scrape':
        void scrape().then(
          (text) => safeSend(worker, { type: 'abe:scrape-result', id: m.id, text }),
          (err: unknown) => safeSend(worker, { type: 'abe:scrape-result', id: m.id, error: String(err) }),
        );
        return;
    }
  };

  const scrape = async (): Promise<string> => {
    const ready = slots.filter((s) => s.ready && s.worker !== undefined);
    const answers = await Promise.all(
      ready.map(
        (s) =>
          new Promise<MetricsJson | undefined>((resolve) => {
            const id = nextRequest++;
            const timer = setTimeout(() => finish(undefined), scrapeTimeoutMs);
            const finish = (m: MetricsJson | undefined): void => {
              clearTimeout(timer);
              pendingJson.delete(id);
              resolve(m);
            };
            pendingJson.set(id, finish);
            if (!safeSend(s.worker!, { type: 'abe:metrics-json', id })) finish(undefined);
          }),
      ),
    );
    return metrics.render(answers);
  };

  const onExit = (slot: Slot, worker: Worker, code: number | null, signal: string | null): void => {
    if (slot.worker !== worker) return;
    slot.worker = undefined;
    slot.ready = false;
    for (const w of [...readyWaiters]) w();
    if (stopping) return;
    const uptimeMs = Date.now() - slot.startedAt;
    if (!started) {
      logger.fatal({ worker: slot.index, pid: slot.pid, code, signal }, `engine worker ${slot.index} exited while starting (code ${code}, signal ${signal}); stopping`);
      void stopAll(1);
      return;
    }
    const decision = policy.onExit(slot.index, Date.now(), uptimeMs);
    if (decision.restart) {
      logger.error({ worker: slot.index, pid: slot.pid, code, signal, uptimeMs, restartInMs: decision.delayMs, recentExits: decision.recentExits }, `engine worker ${slot.index} died (code ${code}, signal ${signal}); restarting it`);
      metrics.restarted(slot.index);
      slot.restartTimer = setTimeout(() => {
        slot.restartTimer = undefined;
        if (!stopping) fork(slot);
      }, decision.delayMs);
      return;
    }
    slot.givenUp = true;
    metrics.crashLoop();
    logger.fatal(
      { worker: slot.index, pid: slot.pid, code, signal, recentExits: decision.recentExits, windowMs: decision.windowMs },
      `engine worker ${slot.index} is in a crash loop (${decision.recentExits} exits within ${decision.windowMs / 1000} s): not restarting it; the other workers keep serving`,
    );
    if (slots.every((s) => s.givenUp)) {
      logger.fatal('every engine worker is in a crash loop: stopping');
      void stopAll(1);
    }
  };

  const waitFor = (check: () => boolean, timeoutMs: number): Promise<boolean> =>
    new Promise((resolve) => {
      const done = (ok: boolean): void => {
        readyWaiters.delete(poll);
        clearTimeout(timer);
        resolve(ok);
      };
      const poll = (): void => {
        if (check()) done(true);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      readyWaiters.add(poll);
      poll();
    });

  let stopped: Promise<never> | undefined;
  const stopAll = (exitCode: number): Promise<never> => (stopped ??= stopWorkers(exitCode));
  const stopWorkers = async (exitCode: number): Promise<never> => {
    stopping = true;
    for (const s of slots) if (s.restartTimer !== undefined) clearTimeout(s.restartTimer);
    const live = slots.map((s) => s.worker).filter((w): w is Worker => w !== undefined);
    const exits = live.map((w) => new Promise<number | null>((resolve) => (w.isDead() ? resolve(w.process.exitCode) : w.once('exit', (code) => resolve(code)))));
    for (const w of live) w.process.kill('SIGTERM');
    const killer = setTimeout(() => {
      for (const w of live) if (!w.isDead()) w.process.kill('SIGKILL');
    }, config.shutdownGraceMs + 10_000);
    const codes = await Promise.all(exits);
    clearTimeout(killer);
    const clean = codes.every((c) => c === 0);
    if (exitCode === 0) logger.info({ workers: codes }, clean ? 'stopped: every worker exited cleanly' : 'stopped: some workers did not exit cleanly');
    rootLogger.flush();
    process.exit(exitCode !== 0 ? exitCode : clean ? 0 : 1);
  };

  let signalled = false;
  const onSignal = (signal: string): void => {
    if (signalled) return;
    signalled = true;
    logger.info({ signal }, 'stopping: asking every worker to close its sockets with going_away and flush the log');
    void stopAll(0);
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));

  const cap = capacity(config);
  logger.info({ workers: config.workers, perProcessConnections: cap.perProcess, connections: cap.total }, `starting ${config.workers} engine processes; this configuration holds up to ${cap.text}`);
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  // uWS shares a port (SO_REUSEPORT) only when every process binds it by number: a socket bound
  // to port 0 cannot be joined (verified on this kernel), so --port 0 picks a free port first.
  if (port === 0) port = await freePort(config.host);
  else {
    // The workers share the port (SO_REUSEPORT), and so would any other process binding it that
    // way: check nobody holds it before forking, so a second engine on a port in use is a start
    // error, never a silent sharer of the traffic [issue 13 item 2].
    const inUse = await portInUse(config.host, port);
    if (inUse !== undefined) {
      logger.fatal({ host: config.host, port, err: inUse }, `cannot listen on ${config.host}:${port}: the port is in use (another engine or program holds it)`);
      return void (await stopAll(1));
    }
  }
  // Worker 0 first: it creates the store's epoch and would report a failure to listen alone.
  fork(slots[0]);
  if (!(await waitFor(() => slots[0].ready || stopping, startTimeoutMs)) || stopping) {
    if (!stopping) logger.fatal(`engine worker 0 did not start within ${startTimeoutMs} ms`);
    return void (await stopAll(1));
  }
  for (const s of slots.slice(1)) fork(s);
  if (!(await waitFor(() => slots.every((s) => s.ready) || stopping, startTimeoutMs)) || stopping) {
    if (!stopping) logger.fatal(`not every engine worker started within ${startTimeoutMs} ms`);
    return void (await stopAll(1));
  }
  started = true;
  const pids = slots.map((s) => s.pid);
  logger.info(
    { host: config.host, port, mqttPort, workers: config.workers, pids, maxConnections: cap.total, perProcessConnections: cap.perProcess, openFileLimit: openFileLimit() },
    `engine listening on http://${config.host}:${port} (WebSocket /v1/ws) in ${config.workers} processes (pids ${pids.join(', ')}); they hold up to ${cap.total} connections (${cap.perProcess} each)`,
  );
}

function safeSend(worker: Worker, message: unknown): boolean {
  try {
    if (!worker.isConnected()) return false;
    worker.send(message as Parameters<Worker['send']>[0], () => undefined);
    return true;
  } catch {
    return false;
  }
}

/** Binds `port` on `host` for a moment (no SO_REUSEPORT): the port bound (the kernel's pick for 0), or why it could not be. */
function tryBind(host: string, port: number): Promise<number | Error> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (err) => resolve(err));
    server.listen({ host, port, exclusive: true }, () => {
      const bound = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(bound));
    });
  });
}

/** Why `port` cannot be bound on `host` right now (EADDRINUSE...), or undefined when it is free. */
export async function portInUse(host: string, port: number): Promise<Error | undefined> {
  const r = await tryBind(host, port);
  return r instanceof Error ? r : undefined;
}

/** A port free on `host` right now (the kernel's pick for port 0), for --port 0. */
export async function freePort(host: string): Promise<number> {
  const r = await tryBind(host, 0);
  if (r instanceof Error) throw r;
  return r;
}
