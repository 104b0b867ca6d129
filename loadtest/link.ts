/**
 * A load test over a link of limited bandwidth [issue 16]: the whole run (engine or bare
 * broadcaster, vehicle workers, publisher) inside a fresh network namespace whose loopback is
 * shaped with a token bucket (tc tbf), so delivery pays for bytes as it would on a real NIC or
 * uplink, where loopback alone pays almost only per send (one 2 KB and one 10 KB frame cost
 * nearly the same there: loadtest/results/issue16/summary.md).
 *
 *   npm run loadtest:link -- --rate 10gbit -- alerts-19k-10kb-deflate --target engine,bare --out ...
 *
 * Needs root and iproute2 (tc). The namespace gets the root namespace's TCP and socket sysctls
 * (they are per namespace), and is deleted at the end, also on Ctrl-C. Traffic never leaves it.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

const SYSCTLS = ['net.core.somaxconn', 'net.ipv4.tcp_max_syn_backlog', 'net.ipv4.ip_local_port_range', 'net.ipv4.tcp_tw_reuse', 'net.ipv4.tcp_rmem', 'net.ipv4.tcp_wmem', 'net.ipv4.tcp_fin_timeout'];

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The root namespace's value of a sysctl (tabs as spaces), or undefined where it does not exist. */
function sysctl(name: string): string | undefined {
  try {
    return run('sysctl', ['-n', name]).trim().replace(/\s+/g, ' ');
  } catch {
    return undefined;
  }
}

async function main(): Promise<number> {
  const split = process.argv.indexOf('--');
  const own = split < 0 ? process.argv.slice(2) : process.argv.slice(2, split);
  const rest = split < 0 ? [] : process.argv.slice(split + 1);
  const { values } = parseArgs({ args: own, options: { rate: { type: 'string', default: '10gbit' }, burst: { type: 'string' } }, strict: true });
  if (rest.length === 0) {
    process.stderr.write('usage: npm run loadtest:link -- [--rate 10gbit] [--burst BYTES] -- <loadtest arguments>\n');
    return 2;
  }
  const rate = values.rate!;
  if (!/^\d+(\.\d+)?(bit|kbit|mbit|gbit)$/.test(rate)) throw new Error(`--rate ${rate}: a tc rate such as 1gbit or 500mbit`);
  const ns = `abe-link-${randomBytes(3).toString('hex')}`;
  // A burst of 1 ms at the rate (at least 1 MB): the bucket may send a short run at line speed, as a NIC does.
  const bitsPerSecond = Number(rate.replace(/[a-z]+$/, '')) * { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 }[rate.replace(/^[\d.]+/, '') as 'bit'];
  const burst = values.burst ?? String(Math.max(1 << 20, Math.round(bitsPerSecond / 8 / 1000)));
  const cleanup = (): void => {
    try {
      run('ip', ['netns', 'del', ns]);
    } catch {
      // already gone
    }
  };
  run('ip', ['netns', 'add', ns]);
  try {
    run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    for (const name of SYSCTLS) {
      const v = sysctl(name);
      if (v !== undefined) run('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', `${name}=${v}`]);
    }
    // A queue deep enough never to drop (drops on loopback mean 200 ms+ retransmit timeouts, not a slow link).
    run('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'tbf', 'rate', rate, 'burst', burst, 'limit', String(1 << 30)]);
    process.stderr.write(`[link] namespace ${ns}: loopback shaped to ${rate} (tbf burst ${burst} B)\n`);
    const child = spawn('ip', ['netns', 'exec', ns, 'npm', 'run', 'loadtest', '--', ...rest], { stdio: 'inherit' });
    const stop = (): void => {
      child.kill('SIGINT');
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
    process.stderr.write(`[link] ${run('ip', ['netns', 'exec', ns, 'tc', '-s', 'qdisc', 'show', 'dev', 'lo']).trim().replace(/\n\s*/g, ' | ')}\n`);
    return code;
  } finally {
    cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  },
);
