/** Reconnect backoff (unit): full jitter over the doubling window. */
import { describe, expect, it } from 'vitest';
import { reconnectDelay, reconnectWindow } from './backoff.ts';

describe('reconnect backoff', () => {
  it('windows double from min and stop at max', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 40].map((n) => reconnectWindow(n, 1000, 30_000))).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  it('full jitter: delays are uniform over [0, window) (Kolmogorov-Smirnov, 20,000 samples)', () => {
    for (const n of [0, 3, 8]) {
      const w = reconnectWindow(n, 1000, 30_000);
      const xs = Array.from({ length: 20_000 }, () => reconnectDelay(n, 1000, 30_000, true, Math.random) / w).sort((a, b) => a - b);
      let d = 0;
      for (let i = 0; i < xs.length; i++) d = Math.max(d, Math.abs((i + 1) / xs.length - xs[i]), Math.abs(xs[i] - i / xs.length));
      // critical value at alpha 0.001: 1.95 / sqrt(n)
      expect(d).toBeLessThan(1.95 / Math.sqrt(xs.length));
      expect(Math.max(...xs)).toBeLessThan(1);
    }
  });

  it('without jitter the schedule is the window itself (what a fleet without jitter does: everyone at once)', () => {
    expect([0, 1, 2].map((n) => reconnectDelay(n, 500, 20_000, false, () => 0.3))).toEqual([500, 1000, 2000]);
  });
});
