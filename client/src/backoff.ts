/**
 * Reconnect delays: full jitter ("Exponential Backoff And Jitter", AWS architecture blog): the n-th
 * retry waits U(0, window(n)), window(n) = min(max, min · 2^n). A fleet that lost the engine at
 * once comes back spread over the whole window instead of in synchronized waves; the loadtest
 * `sdk-storm` measures the herd it prevents.
 */
export function reconnectWindow(attempt: number, minMs: number, maxMs: number): number {
  return Math.min(maxMs, minMs * 2 ** Math.min(attempt, 20));
}

export function reconnectDelay(attempt: number, minMs: number, maxMs: number, jitter: boolean, random: () => number): number {
  const w = reconnectWindow(attempt, minMs, maxMs);
  return jitter ? Math.floor(random() * w) : w;
}
