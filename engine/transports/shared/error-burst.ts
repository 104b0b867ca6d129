/**
 * Errors that come in floods (a full disk fails every session write at each checkpoint; EMFILE
 * fails every accept): one error line per second, carrying how many failed since the last line,
 * instead of one line each.
 */
import type { Logger } from '../../logger.ts';

/** Returns the function to call on each failure; `fields` go on the line when one is written. */
export function errorBurst(msg: string): (logger: Logger, fields: Record<string, unknown>) => void {
  let failed = 0;
  let lastLine = 0;
  return (logger, fields) => {
    failed++;
    const now = Date.now();
    if (now - lastLine < 1000) return;
    logger.error({ ...fields, failedSinceLastLine: failed }, msg);
    lastLine = now;
    failed = 0;
  };
}
