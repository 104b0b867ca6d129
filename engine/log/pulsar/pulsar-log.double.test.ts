/**
 * The ONE log contract suite (../contract.ts) against PulsarLog running on the in-memory double of
 * pulsar-client (./testing/): once with defaults, once with tiny ledgers (rollover every few entries),
 * broker deduplication on and a 3-record cache (so reads and tails replay from the "broker").
 */
import { afterEach, expect } from 'vitest';
import { describeLogContract } from '../contract.ts';
import { doubleFactory, errorSink } from './testing/harness.ts';

const sink = errorSink();
afterEach(() => {
  const unexpected = sink.errors.filter((e) => !/closed|AlreadyClosed/.test(String(e.error)));
  sink.errors.length = 0;
  expect(unexpected.map((e) => `${e.where}: ${String(e.error)}`)).toEqual([]);
});

describeLogContract('PulsarLog on the pulsar-client double', doubleFactory({ sink }));
describeLogContract(
  'PulsarLog on the double: ledger rollover every 3 entries, deduplication, 3-record cache',
  doubleFactory({ sink, broker: { maxEntriesPerLedger: 3, deduplication: true }, log: { cacheRecords: 3 } }),
);
