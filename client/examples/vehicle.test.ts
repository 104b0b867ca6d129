/**
 * The client README's example, run as written (`node -C source --import tsx client/examples/vehicle.ts`)
 * against a real engine: it prints messages, resumes from its position file after a restart with
 * exactly what it missed, and moves to another area on a line of stdin.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../../engine/testing/harness.ts';
import { Publisher, SDK_WAIT_MS, TestEngine } from '../testing/engine.ts';

const REPO = resolve(fileURLToPath(import.meta.url), '../../..');
let e: TestEngine;
beforeAll(async () => {
  e = await TestEngine.start();
});
afterAll(async () => {
  await e.close();
});

function vehicle(area: string, positions: string): { proc: ChildProcess; lines: Record<string, unknown>[]; errs: string[] } {
  const proc = spawn(process.execPath, ['-C', 'source', '--import', 'tsx', 'client/examples/vehicle.ts', area], {
    cwd: REPO,
    env: { ...process.env, ENGINE_URL: e.wsUrl, POSITIONS_FILE: positions },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  const errs: string[] = [];
  let buf = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop()!;
    for (const p of parts) if (p.trim() !== '') lines.push(JSON.parse(p) as Record<string, unknown>);
  });
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => errs.push(d));
  return { proc, lines, errs };
}

const stopped = (p: ChildProcess) => new Promise((r) => p.once('exit', r));

describe('client/examples/vehicle.ts', () => {
  it('prints messages, resumes after a restart with exactly what it missed, and moves on a stdin line', async () => {
    const pub = new Publisher(() => e);
    const positions = join(mkdtempSync(join(tmpdir(), 'abe-vehicle-')), 'positions.json');
    let v = vehicle('ex:a', positions);
    await until('the example to connect', () => v.errs.join('').includes('"state":"connected"'), 20_000);
    for (let i = 1; i <= 3; i++) await pub.publish('ex:a', { kind: 'road-damage', i });
    await until('three lines', () => v.lines.length === 3, SDK_WAIT_MS);
    expect(v.lines.map((l) => l.offset)).toEqual([1, 2, 3]);
    expect(v.lines[0]).toEqual({ area: 'ex:a', offset: 1, source: 'live', data: { kind: 'road-damage', i: 1 } });
    v.proc.kill('SIGTERM');
    await stopped(v.proc);
    for (let i = 4; i <= 6; i++) await pub.publish('ex:a', { i });
    v = vehicle('ex:a', positions);
    await until('the three it missed', () => v.lines.length === 3, 20_000);
    expect(v.lines.map((l) => l.offset)).toEqual([4, 5, 6]);
    v.proc.stdin!.write('ex:b\n');
    await until('the move', () => v.errs.join('').includes('"moved"'), 10_000);
    await pub.publish('ex:b', 'hello b');
    await pub.publish('ex:a', 'after leaving a');
    await until('a message of ex:b', () => v.lines.some((l) => l.area === 'ex:b'), SDK_WAIT_MS);
    await new Promise((r) => setTimeout(r, 300));
    expect(v.lines.filter((l) => l.area === 'ex:a').map((l) => l.offset)).toEqual([4, 5, 6]);
    v.proc.kill('SIGTERM');
    await stopped(v.proc);
  }, 60_000);
});
