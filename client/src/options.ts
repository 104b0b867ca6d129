/**
 * Ack and history options as the client and each subscription use them: resolved once, at
 * construction (a subscription's own setting wins over the client's, `true` means the defaults).
 */
import type { AcksOptions, HistoryOptions } from './types.ts';

export const DEFAULT_ACKS: Required<AcksOptions> = Object.freeze({ intervalMs: 1000, maxMessages: 100 });
export const DEFAULT_HISTORY: Required<HistoryOptions> = Object.freeze({ maxMessages: 1000, pageSize: 1000, maxBuffer: 10_000 });

/** undefined: the inherited setting; false: off; true: the inherited setting or the defaults; an object: it over the defaults. */
function resolve<T extends object>(own: boolean | T | undefined, inherited: Required<T> | undefined, defaults: Required<T>): Required<T> | undefined {
  if (own === undefined) return inherited;
  if (own === false) return undefined;
  if (own === true) return inherited ?? defaults;
  return { ...defaults, ...own };
}

export function resolveAcks(own: boolean | AcksOptions | undefined, inherited?: Required<AcksOptions>): Required<AcksOptions> | undefined {
  return resolve(own, inherited, DEFAULT_ACKS);
}

export function resolveHistory(own: boolean | HistoryOptions | undefined, inherited?: Required<HistoryOptions>): Required<HistoryOptions> | undefined {
  return resolve(own, inherited, DEFAULT_HISTORY);
}
