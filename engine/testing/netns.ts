/**
 * TEST HELPERS ONLY: several "hosts" on one machine, each a network namespace with its own address
 * on a private bridge (iproute2: `ip netns add`, veth pairs). Traffic stays inside the machine: the
 * bridge has no uplink and no route leads anywhere else. Needs root; `teardown()` removes all of it.
 *
 *   root namespace: bridge abebr<id> 10.231.<k>.1/24 (a broker can bind here)
 *   host i:         namespace abe-<id>-<i>, eth0 10.231.<k>.<11+i>/24, lo up
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface NetHost {
  readonly netns: string;
  readonly ip: string;
}

export interface Fleet {
  readonly bridge: string;
  /** The bridge's address in the root namespace (reachable from every host). */
  readonly gateway: string;
  readonly hosts: readonly NetHost[];
  teardown(): void;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Why network namespaces cannot be made here (undefined: they can). */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'no iproute2 (apt-get install iproute2)';
  }
  return undefined;
}

export function createFleet(count: number): Fleet {
  const id = randomBytes(2).toString('hex');
  const k = randomBytes(1)[0]!;
  const bridge = `abebr${id}`;
  const gateway = `10.231.${k}.1`;
  const hosts: NetHost[] = [];
  const made: (() => void)[] = [];
  const teardown = (): void => {
    for (const undo of made.splice(0).reverse()) {
      try {
        undo();
      } catch {
        // already gone
      }
    }
  };
  try {
    ip('link', 'add', bridge, 'type', 'bridge');
    made.push(() => ip('link', 'del', bridge));
    ip('addr', 'add', `${gateway}/24`, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    for (let i = 0; i < count; i++) {
      const netns = `abe-${id}-${i}`;
      const outside = `abev${id}${i}`;
      const host = { netns, ip: `10.231.${k}.${11 + i}` };
      ip('netns', 'add', netns);
      made.push(() => ip('netns', 'del', netns));
      ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
      made.push(() => ip('link', 'del', outside));
      ip('link', 'set', outside, 'master', bridge);
      ip('link', 'set', outside, 'up');
      ip('-n', netns, 'addr', 'add', `${host.ip}/24`, 'dev', 'eth0');
      ip('-n', netns, 'link', 'set', 'eth0', 'up');
      ip('-n', netns, 'link', 'set', 'lo', 'up');
      hosts.push(host);
    }
  } catch (error) {
    teardown();
    throw error;
  }
  return { bridge, gateway, hosts, teardown };
}
