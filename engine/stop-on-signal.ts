/**
 * SIGTERM/SIGINT → Engine.close() (sockets closed with going_away, in-flight publishes flushed,
 * log closed) → exit 0; exit 1 if closing fails. Shared by the single-process entry (main.ts) and
 * every cluster worker (cluster/worker.ts). Returns the stop function for other triggers.
 */
import type { Logger } from './logger.ts';

export function stopOnSignals(engine: { close(): Promise<void> }, logger: Logger): (reason: string) => void {
  let stopping = false;
  const stop = (reason: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal: reason }, 'stopping: closing sockets with going_away, flushing the log');
    engine.close().then(
      () => {
        logger.info('stopped');
        logger.flush();
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return stop;
}
