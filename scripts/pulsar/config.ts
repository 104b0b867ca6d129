/**
 * The Pulsar standalone this project runs for development, tests and CI: which release, where it
 * lives, and the broker configuration it is started with. Pure data and text: nothing here starts
 * or downloads anything (./standalone.ts does).
 *
 * Release: 4.0.8, the newest release of the 4.0 LTS line served by Maven Central here (4.0 is the
 * LTS line; security support until 2027-10-21). Why not 5.0.1, the newest release: its broker needs
 * Java 21 (class files version 65; the installed JDK is 17), and its Gradle-published POMs do not
 * resolve as a standalone from Central here (org.apache.zookeeper:parent:3.9.6 and
 * distributedlog-core:tests:4.18.2 are not served; with those worked around, Maven's nearest-wins
 * mixes jackson-annotations 2.19.1 with jackson-databind 2.21.7 and the JVM dies at start). 4.0.8
 * is published as Apache's own server distribution (org.apache.pulsar:pulsar-server-distribution,
 * tar.gz, classifier bin), so the broker runs with exactly the classpath its release was tested with.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

export const PULSAR_VERSION = process.env.ABE_PULSAR_VERSION ?? '4.0.8';
export const DISTRIBUTION_ARTIFACT = `org.apache.pulsar:pulsar-server-distribution:${PULSAR_VERSION}:tar.gz:bin`;

/** The role the engine uses (a token for it is minted at start) and the broker's super-user. */
export const ENGINE_ROLE = 'abe-engine';
export const ADMIN_ROLE = 'admin';

/** Everything lives outside the work tree: $ABE_PULSAR_HOME, else $XDG_CACHE_HOME/abe-pulsar, else ~/.cache/abe-pulsar. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env.ABE_PULSAR_HOME ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'abe-pulsar');
}

export interface StandaloneSpec {
  /** Instance name: its own config, data, logs and ports (tests that kill a broker run their own). */
  readonly name: string;
  readonly bindAddress: string;
  /** The interface of bindAddress, where the bookie listens (default: lo for 127.0.0.1). */
  readonly interface?: string;
  readonly brokerPort: number;
  readonly webPort: number;
  readonly bookiePort: number;
  /** JVM heap and direct memory (MB). */
  readonly heapMb: number;
  readonly directMb: number;
}

/** The default instance: loopback, binary protocol 6650, HTTP (admin + WebSocket API) 8081 (8080 is the engine's). */
export const DEFAULT_SPEC: StandaloneSpec = { name: 'default', bindAddress: '127.0.0.1', brokerPort: 6650, webPort: 8081, bookiePort: 3181, heapMb: 1024, directMb: 1024 };

export interface InstancePaths {
  readonly dir: string;
  readonly conf: string;
  readonly data: string;
  readonly logs: string;
  readonly pid: string;
  readonly secretKey: string;
  readonly adminToken: string;
  readonly engineToken: string;
  /** JSON description of the running instance (urls, token files, pid), written once it is ready. */
  readonly info: string;
}

export function instancePaths(name: string, root = cacheRoot()): InstancePaths {
  if (!/^[a-z0-9-]{1,32}$/.test(name)) throw new Error(`instance name "${name}": use [a-z0-9-], at most 32 characters`);
  const dir = join(root, 'instances', name);
  return {
    dir,
    conf: join(dir, 'standalone.conf'),
    data: join(dir, 'data'),
    logs: join(dir, 'logs'),
    pid: join(dir, 'pid'),
    secretKey: join(dir, 'token-secret.key'),
    adminToken: join(dir, 'admin.token'),
    engineToken: join(dir, 'engine.token'),
    info: join(dir, 'instance.json'),
  };
}

/**
 * The broker configuration (standalone: broker + one bookie + RocksDB metadata store in one JVM).
 * Only what differs from Pulsar's defaults, each for a reason:
 */
export function standaloneConf(spec: StandaloneSpec, paths: InstancePaths): string {
  const lines: [string, string | number | boolean, string][] = [
    ['clusterName', 'standalone', 'the cluster `bin/pulsar standalone` creates public/default in'],
    ['bindAddress', spec.bindAddress, 'never listen beyond the address asked for (loopback by default)'],
    ['advertisedAddress', spec.bindAddress, 'clients are told this address in lookups'],
    ['listeningInterface', spec.interface ?? (spec.bindAddress === '127.0.0.1' ? 'lo' : ''), 'the bookie binds there too (its default is every interface)'],
    ['brokerServicePort', spec.brokerPort, 'binary protocol (the native client)'],
    ['webServicePort', spec.webPort, 'admin REST API and the WebSocket API'],
    ['webSocketServiceEnabled', true, 'the client path that needs no native library (/ws/v2/...)'],
    ['managedLedgerDefaultEnsembleSize', 1, 'one bookie'],
    ['managedLedgerDefaultWriteQuorum', 1, ''],
    ['managedLedgerDefaultAckQuorum', 1, ''],
    ['journalSyncData', true, 'a send is acknowledged after the bookie fsynced its journal: the engine answers 201 on that'],
    ['managedLedgerNewEntriesCheckDelayInMillis', 0, 'a caught-up reader gets a new entry at once, not at the next 10 ms check (an append answers only once read back)'],
    ['brokerDeleteInactiveTopicsEnabled', false, 'area topics have no subscriptions; deleting them would reset areas'],
    ['allowAutoTopicCreationType', 'non-partitioned', 'one non-partitioned topic per area'],
    ['brokerShutdownTimeoutMs', 10000, 'stop quickly'],
    ['forceDeleteNamespaceAllowed', true, 'tests delete their namespaces with everything in them'],
    ['authenticationEnabled', true, 'token auth as in production: every client needs a token'],
    ['authenticationProviders', 'org.apache.pulsar.broker.authentication.AuthenticationProviderToken', ''],
    ['tokenSecretKey', `file://${paths.secretKey}`, 'HS256 secret (32 random bytes, made at first start)'],
    ['authorizationEnabled', true, 'roles need produce/consume grants: a missing grant is a real error here'],
    ['superUserRoles', ADMIN_ROLE, ''],
    ['brokerClientAuthenticationPlugin', 'org.apache.pulsar.client.impl.auth.AuthenticationToken', 'the in-broker WebSocket service and admin client authenticate as admin'],
    ['brokerClientAuthenticationParameters', `file://${paths.adminToken}`, ''],
    // Sized for a 2-core machine shared with the engine and a load generator.
    ['numIOThreads', 2, '2 cores'],
    ['numHttpServerThreads', 8, ''],
    ['numOrderedExecutorThreads', 2, ''],
    ['webSocketNumIoThreads', 2, ''],
    ['webSocketConnectionsPerBroker', 2, ''],
    ['managedLedgerCacheSizeMB', 128, 'recent entries served to readers from memory'],
    ['dbStorage_writeCacheMaxSizeMb', 64, 'bookie caches: small, the data set is small'],
    ['dbStorage_readAheadCacheMaxSizeMb', 64, ''],
    ['dbStorage_rocksDB_blockCacheSize', 64 * 1024 * 1024, ''],
    ['diskUsageThreshold', 0.99, 'shared CI disks are often >95% used; the bookie would turn read-only'],
    ['diskUsageWarnThreshold', 0.99, ''],
  ];
  const out = [`# Written by scripts/pulsar/standalone.ts for instance "${spec.name}" (Pulsar ${PULSAR_VERSION}). Regenerated at every start.`];
  for (const [key, value, why] of lines) {
    if (value === '') continue;
    if (why) out.push(`# ${why}`);
    out.push(`${key}=${value}`);
  }
  return `${out.join('\n')}\n`;
}

/** JVM settings for bin/pulsar (PULSAR_MEM, PULSAR_GC). G1 and no pre-touch: ZGC + AlwaysPreTouch (the defaults) hold ~1.8 GB RSS from the start. */
export function jvmEnv(spec: StandaloneSpec): Record<string, string> {
  return {
    PULSAR_MEM: `-Xms256m -Xmx${spec.heapMb}m -XX:MaxDirectMemorySize=${spec.directMb}m`,
    PULSAR_GC: '-XX:+UseG1GC -XX:MaxGCPauseMillis=10 -XX:+PerfDisableSharedMem',
  };
}
