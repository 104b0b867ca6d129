/**
 * Only the engine's own workers may share its port [issue 13 item 2]. uWS binds with SO_REUSEPORT
 * by default, so a second engine on a port in use used to log "engine listening" and take part of
 * the traffic (REST reads alternating between two stores). Now: a single process binds its port
 * exclusively, a cluster's primary checks the port is free before its workers share it, and the
 * second engine exits 1 with the reason while the first keeps serving all the traffic.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../cluster/primary.ts';
import { areaInfo, publishOk, spawnEngine, tempDir, trackChildEngines, type ChildEngine } from '../testing/harness.ts';

const { children, dirs, cleanup } = trackChildEngines();
afterEach(cleanup);

/** The first engine binds a port by number: a socket bound to port 0 cannot be joined at all. */
async function start(flags: string[]): Promise<ChildEngine> {
  const dir = await tempDir('abe-port-');
  dirs.push(dir);
  const c = await spawnEngine(dir, [...flags, '--port', String(await freePort('127.0.0.1'))]);
  children.push(c);
  return c;
}

/** Starting a second engine on `port` fails: it exits 1 saying the port is in use. */
async function expectRefused(port: number, flags: string[]): Promise<void> {
  const dir = await tempDir('abe-port-');
  dirs.push(dir);
  let second: ChildEngine;
  try {
    second = await spawnEngine(dir, [...flags, '--port', String(port)]);
  } catch (err) {
    expect(String(err)).toMatch(/exited \(code 1[^)]*\)[\s\S]*port is in use/);
    return;
  }
  children.push(second); // cleaned up like the others
  throw new Error(`a second engine started on port ${port} in use`);
}

/** Every read answers from the first engine's store (the second one would have head 0). */
async function allReadsFromFirst(first: ChildEngine, area: string, head: number): Promise<void> {
  for (let i = 0; i < 20; i++) expect((await areaInfo(first.base, area)).head).toBe(head);
}

describe('a port in use is a start error', () => {
  it('second engine (one process, then a cluster) next to one engine process', async () => {
    const first = await start(['--workers', '1']);
    await publishOk(first.base, 'port:a', { n: 1 });
    await expectRefused(first.port, ['--workers', '1']);
    await expectRefused(first.port, ['--workers', '2']);
    await allReadsFromFirst(first, 'port:a', 1);
  }, 60_000);

  it('second engine (one process, then a cluster) next to a --workers 2 cluster', async () => {
    const first = await start(['--workers', '2']);
    await publishOk(first.base, 'port:b', { n: 1 });
    await publishOk(first.base, 'port:b', { n: 2 });
    await expectRefused(first.port, ['--workers', '1']);
    await expectRefused(first.port, ['--workers', '2']);
    await allReadsFromFirst(first, 'port:b', 2);
  }, 60_000);
});
