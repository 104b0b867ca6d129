/**
 * The per-connection frame/packet rate (--max-frames-per-second), one window for every transport:
 * a one-second window from the first frame in it. Its start is kept as ms modulo 2^30 so the field
 * stays a small integer (no heap number per connection); the difference is taken modulo 2^30 too,
 * which is exact for any gap under ~12 days. O(1), no allocation.
 */
const MS_MASK = 0x3fffffff;

/** The two fields a connection keeps for it. */
export interface FrameWindow {
  frameWindowStart: number;
  frameCount: number;
}

/** Counts one frame; true when it is over `maxPerSecond` in the current window (the caller refuses it). */
export function overFrameRate(w: FrameWindow, nowMs: number, maxPerSecond: number): boolean {
  const now = nowMs & MS_MASK;
  if (((now - w.frameWindowStart) & MS_MASK) >= 1000) {
    w.frameWindowStart = now;
    w.frameCount = 0;
  }
  return ++w.frameCount > maxPerSecond;
}
