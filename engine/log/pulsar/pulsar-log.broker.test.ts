/**
 * The ONE log contract suite against a real Pulsar broker. Runs only when PULSAR_URL is set (and
 * pulsar-client's native binding is installed); each test gets its own namespace through the admin
 * REST API (PULSAR_ADMIN_URL, default http://<host of PULSAR_URL>:8080). How to run it against
 * `pulsar standalone`: README, section "Pulsar".
 */
import { describe, it } from 'vitest';
import { describeLogContract } from '../contract.ts';
import { brokerFactory } from './testing/harness.ts';

const url = process.env.PULSAR_URL;

if (url) {
  describeLogContract(`PulsarLog on the broker at ${url}`, brokerFactory(url));
} else {
  console.warn('[pulsar] PULSAR_URL is not set: the log contract against a real Pulsar broker is SKIPPED (README, "Pulsar": PULSAR_URL=pulsar://localhost:6650 npx vitest run engine/log/pulsar)');
  describe.skip('AreaLog contract: PulsarLog on a real broker (skipped: set PULSAR_URL=pulsar://localhost:6650 to run it)', () => {
    it('runs the contract suite against the broker at PULSAR_URL', () => {});
  });
}
