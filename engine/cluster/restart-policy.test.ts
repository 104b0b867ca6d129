import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config.ts';
import { capacity } from './primary.ts';
import { RestartPolicy } from './restart-policy.ts';

const options = { baseDelayMs: 250, maxDelayMs: 2000, crashLoopExits: 5, windowMs: 60_000, stableAfterMs: 30_000 };

describe('RestartPolicy', () => {
  it('restarts at once, then backs off exponentially, then gives up on a crash loop', () => {
    const p = new RestartPolicy(options);
    const d = [0, 1, 2, 3].map((i) => p.onExit(1, 1000 + i * 100, 500));
    expect(d.map((x) => (x.restart ? x.delayMs : -1))).toEqual([0, 250, 500, 1000]);
    expect(p.onExit(1, 1500, 500)).toEqual({ restart: false, recentExits: 5, windowMs: 60_000 });
  });

  it('caps the delay and keeps slots apart', () => {
    const p = new RestartPolicy({ ...options, crashLoopExits: 100 });
    let last = 0;
    for (let i = 0; i < 10; i++) {
      const d = p.onExit(0, i, 0);
      if (d.restart) last = d.delayMs;
    }
    expect(last).toBe(2000);
    expect(p.onExit(1, 10, 0)).toMatchObject({ restart: true, delayMs: 0 });
  });

  it('forgets exits outside the window and after a stable run', () => {
    const p = new RestartPolicy(options);
    for (let i = 0; i < 4; i++) p.onExit(0, i, 0);
    expect(p.onExit(0, 70_000, 0)).toMatchObject({ restart: true, delayMs: 0, recentExits: 1 });
    for (let i = 0; i < 3; i++) p.onExit(0, 70_001 + i, 0);
    expect(p.onExit(0, 70_010, 31_000)).toMatchObject({ restart: true, recentExits: 1 });
  });
});

describe('capacity', () => {
  it('is workers x the per-process connection limit', () => {
    const parsed = parseConfig(['--workers', '6', '--max-connections', '19000'], {});
    if (!('config' in parsed)) throw new Error('help');
    const c = capacity(parsed.config, 20_000);
    expect(c).toMatchObject({ perProcess: 19_000, total: 114_000 });
    expect(c.text).toContain('6 processes x 19,000 connections = 114,000 connections');
  });

  it('--workers defaults to one per core and WORKERS is read', () => {
    const d = parseConfig([], {});
    const e = parseConfig([], { WORKERS: '3' });
    if (!('config' in d) || !('config' in e)) throw new Error('help');
    expect(d.config.workers).toBeGreaterThanOrEqual(1);
    expect(e.config.workers).toBe(3);
    expect(() => parseConfig(['--workers', '0'], {})).toThrow(/out of range/);
  });
});
