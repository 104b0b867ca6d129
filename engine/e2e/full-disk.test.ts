/**
 * Fault injection, the real thing: the engine's data dir on a 2 MiB tmpfs that fills up under a
 * publish stream [issue 13 item 1]. The engine (a child process, one worker or two) must stay up,
 * answer 503 `log_unavailable` (MQTT: PUBACK 0x80), say not ready, keep delivering what the log
 * already has, and take writes again by itself once space is freed. A restart on a disk that is
 * still full must start not ready instead of saying ready and failing the first publish.
 */
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { areaInfo, http, publish, range, spawnEngine, trackChildEngines, until, Vehicle, type ChildEngine } from '../testing/harness.ts';
import { mountTmpfs, type Tmpfs } from '../testing/tmpfs.ts';

const { children, cleanup } = trackChildEngines();
const mounts: Tmpfs[] = [];

afterEach(async () => {
  await cleanup();
  for (const m of mounts.splice(0)) m.unmount();
});

const AREA = 'disk:full';
const BODY = Buffer.alloc(8192, 0x5a);
const MQTT_OPTS = { protocolVersion: 5 as const, reconnectPeriod: 0, connectTimeout: 5000 };

async function start(dir: string, flags: string[]): Promise<ChildEngine> {
  const c = await spawnEngine(dir, flags);
  children.push(c);
  return c;
}

/** Every offset a publish was answered 201 for, whichever call made it. */
const acked: number[] = [];

async function post(base: string): ReturnType<typeof publish> {
  const r = await publish(base, AREA, BODY, { contentType: 'application/octet-stream' });
  if (r.status === 201) acked.push((r.body as { offset: number }).offset);
  return r;
}

/** Publishes one after another until the first refusal. */
async function publishUntilRefused(base: string): Promise<{ status: number; body: { code?: string; message?: string } }> {
  for (let i = 0; i < 400; i++) {
    const r = await post(base);
    if (r.status !== 201) return { status: r.status, body: r.body as { code?: string } };
  }
  throw new Error('400 x 8 KiB fit on a 2 MiB tmpfs: the disk never filled');
}

async function readyz(base: string): Promise<{ status: number; code?: string }> {
  const r = await http(base, '/readyz');
  return { status: r.status, code: (r.body as { code?: string }).code };
}

function alive(c: ChildEngine): boolean {
  return c.proc.exitCode === null && c.proc.signalCode === null;
}

describe('a full disk leaves the engine serving', () => {
  it.each([
    ['1 process, --durability flush', ['--workers', '1', '--durability', 'flush']],
    ['2 workers, --durability commit', ['--workers', '2', '--durability', 'commit']],
  ])('%s: 503 while full, deliveries go on, writes resume by themselves', async (_name, flags) => {
    const disk = mountTmpfs(2 * 1024 * 1024);
    mounts.push(disk);
    disk.fill('filler', 600 * 1024);
    const engine = await start(`${disk.dir}/data`, flags);
    const vehicle = await Vehicle.connect(engine.wsUrl);
    await vehicle.subscribe(AREA);
    const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${await mqttPortOf(engine)}`, { ...MQTT_OPTS, clientId: 'disk-sub', clean: false });
    await sub.subscribeAsync(`areas/${AREA}`, { qos: 1 });
    const mqttOffsets: number[] = [];
    sub.on('message', (_t, _p, packet) => mqttOffsets.push(Number(packet.properties?.userProperties?.offset)));

    acked.length = 0;
    const refusal = await publishUntilRefused(engine.base);
    expect(acked.length).toBeGreaterThan(10);
    expect(refusal).toMatchObject({ status: 503, body: { code: 'log_unavailable' } });
    // Every worker finds out on its own append; keep publishing until each says so (a worker that
    // has not failed yet may still fit one: every 201 is remembered in `acked`).
    await until('every worker refusing', async () => (await post(engine.base)).status === 503 && (await readyz(engine.base)).status === 503 && (await readyz(engine.base)).status === 503);
    expect(await readyz(engine.base)).toEqual({ status: 503, code: 'log_unavailable' });
    expect((await http(engine.base, '/healthz')).status).toBe(200);

    // MQTT publishers are told too: PUBACK 0x80 (Unspecified error), nothing stored.
    const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${await mqttPortOf(engine)}`, { ...MQTT_OPTS, clientId: 'disk-pub' });
    // (Its connection may sit on a worker that has not failed yet and still fit one: try a few.)
    let pubErr: { code?: number } | undefined;
    for (let i = 0; i < 5 && pubErr === undefined; i++) {
      pubErr = await pub.publishAsync(`areas/${AREA}`, BODY, { qos: 1 }).then(
        () => undefined,
        (e: { code?: number }) => e,
      );
    }
    expect(pubErr?.code).toBe(0x80);

    // What the log holds (every acknowledged publish among it) reaches every vehicle, exactly once, in order.
    const last = (await areaInfo(engine.base, AREA)).head;
    expect(new Set(acked).size).toBe(acked.length);
    expect(acked.every((o) => o >= 1 && o <= last)).toBe(true);
    await vehicle.waitOffset(AREA, last);
    expect(vehicle.offsets(AREA)).toEqual(range(1, last));
    await until(`MQTT subscriber at ${last}`, () => mqttOffsets.at(-1) === last);
    expect(mqttOffsets).toEqual(range(1, last));

    // Space comes back: the probe write finds out, no restart, no operator step.
    disk.free('filler');
    await until('ready again', async () => (await readyz(engine.base)).status === 200, 15_000);
    acked.length = 0;
    // Each worker probes on its own (every second): a publish that lands on one whose probe has
    // not run yet still gets 503 for that long, and stores nothing.
    const again = await until('a publish accepted again', async () => {
      const r = await post(engine.base);
      return r.status === 201 ? r : undefined;
    }, 15_000, 100);
    expect((again.body as { offset: number }).offset).toBe(last + 1);
    await vehicle.waitOffset(AREA, last + 1);
    expect(vehicle.offsets(AREA)).toEqual(range(1, last + 1));
    expect(alive(engine)).toBe(true);
    expect(engine.output()).not.toMatch(/died|Commit failed \(see commitError/);
    await pub.endAsync(true);
    await sub.endAsync(true);
    vehicle.close();
  }, 60_000);

  it('restarted while still full: starts not ready, refuses publishes, recovers when space is freed', async () => {
    const disk = mountTmpfs(2 * 1024 * 1024);
    mounts.push(disk);
    const dir = `${disk.dir}/data`;
    const first = await start(dir, ['--workers', '1']);
    for (let i = 1; i <= 5; i++) expect((await post(first.base)).status).toBe(201);
    first.proc.kill('SIGTERM');
    await first.exited;
    disk.fill('filler');

    const second = await start(dir, ['--workers', '1']);
    expect(await readyz(second.base)).toEqual({ status: 503, code: 'log_unavailable' });
    expect((await post(second.base)).body).toMatchObject({ code: 'log_unavailable' });
    // Reads still work: the history is all there.
    const page = await http(second.base, `/v1/areas/${encodeURIComponent(AREA)}/messages?from=1`);
    expect(page.status).toBe(200);
    expect((page.body as { messages: { offset: number }[] }).messages.map((m) => m.offset)).toEqual(range(1, 5));

    disk.free('filler');
    await until('ready again', async () => (await readyz(second.base)).status === 200, 15_000);
    const r = await post(second.base);
    expect(r.status).toBe(201);
    expect((r.body as { offset: number }).offset).toBe(6);
    expect(alive(second)).toBe(true);
  }, 60_000);
});

describe('a read-only data dir', () => {
  // Linux refuses to remount read-only while LMDB holds its file open for writing ("mount point is
  // busy"), so read-only can only meet the engine at start: a clear start error, not a crash loop.
  it('is a start error that says so (exit 1)', async () => {
    const disk = mountTmpfs(8 * 1024 * 1024);
    mounts.push(disk);
    const first = await start(`${disk.dir}/data`, ['--workers', '1']);
    expect((await post(first.base)).status).toBe(201);
    first.proc.kill('SIGTERM');
    await first.exited;
    disk.readOnly(true);
    await expect(spawnEngine(`${disk.dir}/data`, ['--workers', '1'])).rejects.toThrow(/exited \(code 1[\s\S]*Read-only file system/);
    disk.readOnly(false);
  }, 60_000);
});

/** The child logs its MQTT port in the "engine listening" line. */
async function mqttPortOf(c: ChildEngine): Promise<number> {
  const line = c
    .output()
    .split('\n')
    .find((l) => l.includes('engine listening'));
  const port = line ? (JSON.parse(line) as { mqttPort?: number }).mqttPort : undefined;
  if (port === undefined) throw new Error(`no mqttPort in the child's listening line:\n${c.output()}`);
  return port;
}
