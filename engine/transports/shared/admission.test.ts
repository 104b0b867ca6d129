import { describe, expect, it } from 'vitest';
import type { AdmissionConfig, FlappingKey } from '../../config.types.ts';
import { createLogger } from '../../logger.ts';
import { Admission, type AdmissionRefusal, type Listener } from './admission.ts';

function setup(config: { maxConnectRate?: number; flapping?: Partial<AdmissionConfig['flapping']> } = {}) {
  let now = 1_000_000;
  const refused: [Listener, AdmissionRefusal][] = [];
  const banned: FlappingKey[] = [];
  const full: AdmissionConfig = {
    maxConnectRate: config.maxConnectRate ?? 0,
    flapping: { maxConnects: 15, windowMs: 60_000, banMs: 300_000, by: ['clientid'], ...config.flapping },
  };
  const a = new Admission(full, { refused: (l, r) => refused.push([l, r]), banned: (k) => banned.push(k) }, createLogger('silent'), () => now);
  return { a, refused, banned, advance: (ms: number) => (now += ms) };
}

describe('connect rate per listener (token bucket, burst = rate)', () => {
  it('admits a burst of `rate`, then one per 1/rate seconds; each listener has its own bucket', () => {
    const { a, refused, advance } = setup({ maxConnectRate: 10 });
    for (let i = 0; i < 10; i++) expect(a.admitConnect('ws', '')).toBeUndefined();
    expect(a.admitConnect('ws', '')).toEqual({ reason: 'connect_rate_limited', retryAfterSeconds: 1 });
    expect(a.admitConnect('mqtt_tcp', '')).toBeUndefined();
    advance(100); // one token back at 10/s
    expect(a.admitConnect('ws', '')).toBeUndefined();
    expect(a.admitConnect('ws', '')?.reason).toBe('connect_rate_limited');
    expect(refused).toEqual([
      ['ws', 'connect_rate_limited'],
      ['ws', 'connect_rate_limited'],
    ]);
  });

  it('0 means no limit', () => {
    const { a } = setup({ maxConnectRate: 0 });
    for (let i = 0; i < 10_000; i++) expect(a.admitConnect('ws', '')).toBeUndefined();
  });
});

describe('flapping (EMQX defaults: 15 connects a minute -> banned for 5 minutes)', () => {
  it('the 16th connect of one client id within the window is refused and bans it; others go on', () => {
    const { a, banned, advance } = setup();
    for (let i = 0; i < 15; i++) {
      expect(a.admitIdentity('mqtt_tcp', { address: '10.0.0.1', clientId: 'car-1' })).toBeUndefined();
      advance(1000);
    }
    expect(a.admitIdentity('mqtt_tcp', { address: '10.0.0.1', clientId: 'car-1' })).toEqual({ reason: 'flapping_banned', retryAfterSeconds: 300 });
    expect(banned).toEqual(['clientid']);
    expect(a.admitIdentity('mqtt_tcp', { address: '10.0.0.1', clientId: 'car-2' })).toBeUndefined();
    advance(299_000);
    expect(a.admitIdentity('mqtt_ws', { address: '10.0.0.9', clientId: 'car-1' })).toEqual({ reason: 'flapping_banned', retryAfterSeconds: 1 });
    advance(1000);
    expect(a.admitIdentity('mqtt_ws', { address: '10.0.0.9', clientId: 'car-1' })).toBeUndefined();
  });

  it('connects spread over more than the window never ban', () => {
    const { a, advance } = setup({ flapping: { maxConnects: 3, windowMs: 10_000 } });
    for (let i = 0; i < 30; i++) {
      expect(a.admitIdentity('ws', { address: '', clientId: 'car-1' })).toBeUndefined();
      advance(4000);
    }
  });

  it('counts by subject and by address only when asked, and a banned address is refused before auth', () => {
    const { a } = setup({ flapping: { maxConnects: 2, by: ['subject', 'address'] } });
    expect(a.needsAddress).toBe(true);
    expect(a.admitIdentity('ws', { address: '10.0.0.1', subject: 's1', clientId: 'c' })).toBeUndefined();
    expect(a.admitIdentity('ws', { address: '10.0.0.1', subject: 's2', clientId: 'c' })).toBeUndefined();
    // third connect from the address: banned (the subjects are at 1 each)
    expect(a.admitIdentity('ws', { address: '10.0.0.1', subject: 's3', clientId: 'c' })?.reason).toBe('flapping_banned');
    expect(a.admitConnect('ws', '10.0.0.1')?.reason).toBe('flapping_banned');
    expect(a.admitConnect('ws', '10.0.0.2')).toBeUndefined();
  });

  it('0 max connects turns detection off', () => {
    const { a } = setup({ flapping: { maxConnects: 0, by: ['clientid', 'subject', 'address'] } });
    expect(a.needsAddress).toBe(false);
    for (let i = 0; i < 1000; i++) expect(a.admitIdentity('ws', { address: 'x', subject: 's', clientId: 'c' })).toBeUndefined();
  });

  it('state stays bounded: counters of past windows are pruned', () => {
    const { a, advance } = setup({ flapping: { maxConnects: 5, windowMs: 1000 } });
    for (let i = 0; i < 5000; i++) a.admitIdentity('ws', { address: '', clientId: `c${i}` });
    advance(2000);
    a.admitIdentity('ws', { address: '', clientId: 'last' });
    expect((a as unknown as { counters: Map<string, unknown> }).counters.size).toBe(1);
  });
});
