/**
 * PulsarLog when Pulsar misbehaves (in-memory double): broker outages, producers and readers closed
 * by the broker, undecodable messages, partitioned topics, a broker that is down at start.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EngineError } from '../../errors.ts';
import { collect, offsets, range, waitUntil } from '../contract-support.ts';
import { PulsarLog } from './pulsar-log.ts';
import { baseOptions, doubleCluster, req, type DoubleCluster } from './testing/harness.ts';
import { deadLetterScenario } from './testing/scenarios.ts';

let c: DoubleCluster;
afterEach(async () => {
  expect(c.broker.stats.hasNextCalls).toBe(0);
  await c.closeAll();
});

async function rejectsUnavailable(p: Promise<unknown>, message?: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EngineError);
  expect((err as EngineError).code).toBe('log_unavailable');
  if (message) expect((err as Error).message).toMatch(message);
}

describe('broker outage', () => {
  it('is unhealthy and refuses appends (log_unavailable, never a false success), then recovers', async () => {
    c = doubleCluster({}, { sendTimeoutMs: 150 });
    const log = await c.open();
    const t = collect(log, 'o', 0);
    expect((await log.append('o', req('before'))).offset).toBe(1);
    expect(log.healthy()).toBe(true);
    c.broker.stop();
    expect(log.healthy()).toBe(false);
    await rejectsUnavailable(log.append('o', req('during')), /TimeOut/);
    await rejectsUnavailable(log.append('o', req('during2')), /failing/); // fails fast while the producer is down
    c.broker.start();
    await waitUntil(() => {
      void log.sweep();
      return log.healthy();
    }, 'the log to recover');
    expect((await log.append('o', req('after'))).offset).toBe(2);
    await t.reach(2);
    expect(offsets(t.records)).toEqual([1, 2]);
    expect(t.problems).toEqual([]);
  });

  it('re-creates the producer and the reader the broker closed for good, with backoff', async () => {
    c = doubleCluster();
    const log = await c.open({ readerStallMs: 10 });
    const t = collect(log, 'f', 0);
    expect((await log.append('f', req('one'))).offset).toBe(1);
    const [producers, readers] = [c.broker.stats.producersCreated, c.broker.stats.readersCreated];
    c.broker.fenceClients(c.topic('f'));
    await rejectsUnavailable(log.append('f', req('lost')), /AlreadyClosed/);
    expect(log.healthy()).toBe(false);
    await log.sweep();
    await waitUntil(() => {
      void log.sweep(); // the watchdog notices the closed reader and recreates it after its last message
      return log.healthy();
    }, 'producer probe and reader watchdog');
    expect(c.broker.stats.producersCreated).toBeGreaterThan(producers);
    expect(c.broker.stats.readersCreated).toBeGreaterThan(readers);
    expect((await log.append('f', req('two'))).offset).toBe(2);
    await t.reach(2);
    expect(offsets(t.records)).toEqual([1, 2]);
  });

  it('opens not ready while the broker is down, says why on every call, and opens by itself once it is back', async () => {
    c = doubleCluster();
    c.broker.stop();
    const log = new PulsarLog(baseOptions(c.pulsar, { onError: c.sink.onError }));
    await log.open();
    expect(log.healthy()).toBe(false);
    await rejectsUnavailable(log.append('o', req('x')), /Pulsar log is not open yet: Pulsar at .* is not reachable \(yet\).*ConnectError/);
    await rejectsUnavailable(log.state('o'), /not open yet/);
    expect(c.sink.errors.map((e) => e.where)).toContain('opening the Pulsar log: starting not ready, retrying in the background');
    c.broker.start();
    await waitUntil(() => log.healthy(), 'the background open', 10_000);
    expect((await log.append('o', req('x'))).offset).toBe(1);
    await log.close();
  });

  it('keeps a tail of an area that could not open and starts it once the broker is back', async () => {
    c = doubleCluster();
    const log = await c.open();
    c.broker.stop();
    const t = collect(log, 'later', 0);
    await new Promise((r) => setTimeout(r, 50));
    c.broker.start();
    const other = await c.open();
    await other.append('later', req('x'));
    await t.reach(1);
    expect(offsets(t.records)).toEqual([1]);
  });
});

describe('dead letters', () => {
  it('tombstones undecodable messages, dead-letters them with the reason, and never stalls the area', async () => {
    c = doubleCluster();
    await deadLetterScenario(c);
  });
});

describe('what the offset scheme refuses', () => {
  it('refuses a partitioned area topic (merged partitions have no agreed order)', async () => {
    c = doubleCluster();
    const log = await c.open();
    c.broker.createPartitionedTopic(c.topic('parts'), 3);
    await rejectsUnavailable(log.state('parts'), /partitioned topic/);
    await rejectsUnavailable(log.append('parts', req('x')), /partitioned topic/);
    expect((await log.append('fine', req('y'))).offset).toBe(1);
  });
});

describe('lifecycle', () => {
  it('is unhealthy after close and refuses appends', async () => {
    c = doubleCluster();
    const log = await c.open();
    await log.append('a', req('x'));
    await log.close();
    expect(log.healthy()).toBe(false);
    await rejectsUnavailable(log.append('a', req('y')), /closed/);
    expect(() => log.tail('a', 0, () => {})).toThrow(/closed/);
  });

  it('closes idle area readers and producers, and reopens them on use', async () => {
    c = doubleCluster();
    const log = await c.open({ areaIdleMs: 0, producerIdleMs: 0 });
    for (const i of range(1, 3)) await log.append('idle', req(`m${i}`));
    const readers = c.broker.stats.readersCreated;
    await log.sweep();
    expect(await log.state('idle')).toMatchObject({ head: 3 });
    expect(c.broker.stats.readersCreated).toBeGreaterThan(readers);
    expect((await log.append('idle', req('m4'))).offset).toBe(4);
  });
});
