/**
 * vitest globalSetup: the real Pulsar broker for the real-broker suites (engine/log/pulsar/testing/
 * broker.ts). A broker named in the environment (PULSAR_WEB_URL + token files, e.g. from
 * `eval "$(npm run -s pulsar -- env)"`, as .ci/run does) is used as it is; else the project's
 * default standalone is used when it runs, or started here (Java + Maven; about 7 s, the first
 * time also a 245 MB download) and stopped again after the run. ABE_SKIP_PULSAR=1 runs without a
 * broker: the real-broker suites then skip with a notice (CI never sets it).
 */
import { DEFAULT_SPEC } from '../../scripts/pulsar/config.ts';
import { envLines, isInstanceProcess, readInstance, startStandalone, stopStandalone } from '../../scripts/pulsar/standalone.ts';

let started = false;

export async function setup(): Promise<void> {
  if (process.env.PULSAR_WEB_URL || process.env.ABE_SKIP_PULSAR === '1') return;
  let inst = readInstance(DEFAULT_SPEC.name);
  if (!inst || !isInstanceProcess(inst.pid, DEFAULT_SPEC.name)) {
    const log = (line: string): void => console.error(`[pulsar] ${line}`);
    log('no broker running: starting the default standalone for this test run (ABE_SKIP_PULSAR=1 to run without)');
    inst = await startStandalone(DEFAULT_SPEC, log);
    started = true;
  }
  // Workers (forks) inherit the environment: the same lines `npm run pulsar -- env` prints.
  for (const line of envLines(inst)) {
    const m = /^export ([A-Z_]+)=(.*)$/.exec(line);
    if (m) process.env[m[1]!] = m[2]!;
  }
}

export async function teardown(): Promise<void> {
  if (started) await stopStandalone(DEFAULT_SPEC.name, (line) => console.error(`[pulsar] ${line}`));
}
