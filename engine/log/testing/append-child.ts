/**
 * Test helper process: appends to an EmbeddedLog and reports every acknowledged append on stdout.
 *
 *   node --import tsx engine/log/testing/append-child.ts <dir> <area> <count|0=forever> <inflight> <flush|commit>
 *
 * stdout lines: `ready`, then `ack <offset> <seq>` per acknowledged append (payload is `s<seq>`),
 * then `done` (only when count > 0).
 */
import { EmbeddedLog } from '../embedded.ts';

const [dir, area, countArg, inflightArg, durabilityArg] = process.argv.slice(2);
if (!dir || !area) {
  process.stderr.write('usage: append-child.ts <dir> <area> <count> <inflight> <flush|commit>\n');
  process.exit(2);
}
const count = Number(countArg ?? 0);
const inflight = Math.max(1, Number(inflightArg ?? 1));
const durability = durabilityArg === 'commit' ? 'commit' : 'flush';

const log = new EmbeddedLog({
  dir,
  retention: { maxCount: 0, maxAgeMs: 0 },
  idempotencyTtlMs: 60_000,
  durability,
  tailPollMs: 50,
  retentionSweepMs: 0,
});
await log.open();
process.stdout.write('ready\n');

let seq = 0;
async function worker(): Promise<void> {
  while (count === 0 || seq < count) {
    const mine = ++seq;
    const r = await log.append(area!, { payload: Buffer.from(`s${mine}`), contentType: 'binary', time: Date.now(), expiresAt: 0 });
    process.stdout.write(`ack ${r.offset} ${mine}\n`);
  }
}
await Promise.all(Array.from({ length: inflight }, () => worker()));
await log.close();
process.stdout.write('done\n');
