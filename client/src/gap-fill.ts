/**
 * Filling a `recovered:false` gap from GET /v1/areas/{area}/messages: pages from the first missed
 * offset (keeping the newest `maxMessages`) up to the head the engine reported when it attached
 * the area, so history and live meet without overlap or hole (Ably's untilAttach idea).
 */
import { fetchHistory, type HistoryMessage } from './history.ts';
import type { GapContext, HistoryOptions } from './types.ts';

export interface FillResult {
  readonly filled: number;
  /** What nothing could fill (trimmed, capped, a failed fetch), as one range; undefined when none. */
  readonly lost?: { from: number; to: number };
  /** The sink stopped the fill: the rest was not fetched (and is not lost: the caller resumes instead). */
  readonly deferred?: boolean;
}

export interface FillSink {
  /** Delivers one message through the subscription's dedup rule; false when it was a duplicate. */
  accept(m: HistoryMessage): boolean;
  /** The live buffer overflowed: stop fetching. */
  stopped(): boolean;
  error(err: Error): void;
}

type Access = () => { fetch: typeof globalThis.fetch; httpUrl: string; token: string | undefined } | undefined;

const RETRIES = 3;

export async function fillFromHistory(access: Access, ctx: GapContext, from: number, to: number, opts: Required<HistoryOptions>, sink: FillSink): Promise<FillResult> {
  let f = Math.max(from, to - opts.maxMessages + 1);
  let filled = 0;
  let firstFilled: number | undefined;
  let stoppedAt: number | undefined;
  let deferred = false;
  for (let tries = 0; f <= to; ) {
    if (sink.stopped()) {
      deferred = true;
      break;
    }
    const a = access(); // the token may have been refreshed between pages
    if (a === undefined) {
      stoppedAt = f;
      break;
    }
    let page;
    try {
      page = await fetchHistory(a.fetch, a.httpUrl, a.token, ctx.area, f, Math.min(opts.pageSize, to - f + 1));
    } catch (err) {
      const status = (err as { status?: number }).status ?? 0;
      if ((status === 429 || status === 503 || status === 0) && ++tries < RETRIES) {
        await new Promise((r) => setTimeout(r, 250 * 2 ** tries));
        continue;
      }
      if (status !== 404) sink.error(err as Error);
      stoppedAt = f;
      break;
    }
    tries = 0;
    if (page.epoch !== ctx.epoch) {
      stoppedAt = f; // the store was reset meanwhile: the rest is gone
      break;
    }
    for (const m of page.messages) {
      if (m.offset > to) break;
      if (sink.accept(m)) {
        filled++;
        firstFilled ??= m.offset;
      }
    }
    if (page.messages.length === 0 || page.next > to) break;
    f = page.next;
  }
  // A failed or stopped fill: what it did not reach is lost too (reported as one range, the hull).
  if (stoppedAt !== undefined) return { filled, lost: { from: firstFilled === from ? stoppedAt : from, to } };
  // Otherwise what precedes the first filled message was trimmed (or capped by maxMessages).
  const firstKept = firstFilled ?? (deferred ? f : to + 1);
  return { filled, lost: firstKept > from ? { from, to: firstKept - 1 } : undefined, deferred };
}
