/**
 * The ONE log contract suite against a real Apache Pulsar broker (`npm run pulsar -- start`; CI
 * starts it in .ci/run and sets ABE_REQUIRE_PULSAR=1, so this never skips there), through Pulsar's
 * WebSocket API: the client every machine here can run (libpulsar cannot load). Each test gets its
 * own namespace through the admin API (./testing/broker.ts).
 */
import { describe, it } from 'vitest';
import { describeLogContract } from '../contract.ts';
import { NO_BROKER_NOTICE, realBroker } from './testing/broker.ts';
import { brokerFactory } from './testing/harness.ts';

const broker = realBroker();

if (broker) {
  describeLogContract(`PulsarLog on the real broker at ${broker.webUrl} (WebSocket client)`, brokerFactory(broker));
} else {
  console.warn(`[pulsar] ${NO_BROKER_NOTICE}`);
  describe.skip('AreaLog contract: PulsarLog on a real broker (skipped: no broker)', () => {
    it('runs the contract suite against a real broker', () => {});
  });
}
