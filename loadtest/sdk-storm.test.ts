/**
 * The SDK reconnect storm, small (./sdk-storm.ts; the 10,000-client run is in
 * loadtest/results/issue15/): 400 SDK clients in 2 processes, the engine restarted under a
 * publish stream. Every client resumes with nothing lost or duplicated, with and without jitter,
 * and jitter lowers the peak connect rate (the herd).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMode } from './sdk-storm.ts';

describe('SDK reconnect storm (small)', () => {
  it('400 clients: all resume, 0 lost, 0 duplicated; jitter lowers the peak connect rate', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'abe-sdk-storm-')), 'storm');
    const o = { clients: 400, processes: 2, areas: 20, rate: 50, minDelay: 500, maxDelay: 4000, out, beforeMs: 1500, afterMs: 1500 };
    const jitter = await runMode(true, o);
    const herd = await runMode(false, o);
    for (const r of [jitter, herd]) {
      expect(r.lost, r.mode).toBe(0);
      expect(r.duplicated, r.mode).toBe(0);
      expect(r.recoveredFalse, r.mode).toBe(0);
      expect(r.published).toBeGreaterThan(0);
    }
    // planned retries (close seen + delay): what independent vehicles would send, free of this machine's client CPU
    expect(jitter.peakPlannedPer100ms).toBeLessThan(herd.peakPlannedPer100ms);
  }, 180_000);
});
