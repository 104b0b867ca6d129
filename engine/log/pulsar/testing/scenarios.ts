/**
 * TEST HELPERS: Pulsar-log scenarios that run the same on the double (./harness.ts doubleCluster)
 * and on the real broker (realCluster), so the double's answer is checked against the real one.
 */
import { expect } from 'vitest';
import { collect } from '../../contract-support.ts';
import type { ProducerConfig, Producer } from '../client-api.ts';
import type { PulsarLogOptions } from '../options.ts';
import type { PulsarLog } from '../pulsar-log.ts';
import { req, type TopicMessage } from './harness.ts';

export interface ClusterUnderTest {
  open(extra?: Partial<PulsarLogOptions>): Promise<PulsarLog>;
  foreignClient(): { createProducer(config: ProducerConfig): Promise<Producer> };
  topic(area: string): string;
  messages(topic: string, count: number): Promise<TopicMessage[]>;
}

/** Undecodable messages of another producer keep their offsets as tombstones, go to the dead-letter topic with the reason, and never stall the area. */
export async function deadLetterScenario(c: ClusterUnderTest): Promise<void> {
  const dead: [string, string][] = [];
  const log = await c.open({ onDeadLetter: (area, reason) => dead.push([area, reason]) });
  const t = collect(log, 'd:1', 0);
  await log.append('d:1', req('ok1'));
  const foreign = await c.foreignClient().createProducer({ topic: c.topic('d:1'), batchingEnabled: false });
  await foreign.send({ data: Buffer.from('x'), properties: { 'abe-content-type': 'text/plain' } });
  await foreign.send({ data: Buffer.from('{not json'), properties: { 'abe-content-type': 'json' } });
  await foreign.send({ data: Buffer.from('x'), properties: { 'abe-time': 'yesterday' } });
  await foreign.send({ data: Buffer.from('{"fine":true}'), properties: { 'abe-content-type': 'json' } });
  await t.reach(5, 15_000);
  expect(t.records.map((r) => [r.offset, r.expiresAt === 0, r.contentType])).toEqual([
    [1, true, 'binary'],
    [2, false, 'binary'],
    [3, false, 'binary'],
    [4, false, 'binary'],
    [5, true, 'json'],
  ]);
  expect(dead).toEqual([
    ['d:1', 'bad_content_type'],
    ['d:1', 'invalid_payload'],
    ['d:1', 'bad_time'],
  ]);
  const letters = await c.messages(`${c.topic('d:1')}-DLQ`, 3);
  expect(letters.map((m) => m.properties['abe-dlq-reason'])).toEqual(['bad_content_type', 'invalid_payload', 'bad_time']);
  expect(letters[0]!.properties).toMatchObject({ 'abe-dlq-source-topic': c.topic('d:1'), 'abe-dlq-offset': '2', 'abe-dlq-area': 'd:1' });
  expect(letters[0]!.properties['abe-dlq-detail']).toMatch(/unknown abe-content-type "text\/plain"/);
  expect(letters[1]!.properties).toMatchObject({ 'abe-dlq-offset': '3', 'abe-content-type': 'json' });
  expect(letters[1]!.data.toString()).toBe('{not json');
  expect((await log.append('d:1', req('ok2'))).offset).toBe(6);
}
