/**
 * The README's "Try it" block, run as written (bash, from the repository root) [issue 15: every
 * example in the README runs]: the engine starts with auth on, `npm run token` mints the tokens,
 * the SDK's example vehicle and mosquitto_sub both get the published message. Uses the README's
 * ports (8080, 1883) and a temporary data directory and position file.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPO = resolve(fileURLToPath(import.meta.url), '../..');

function tryItBlock(): string {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const start = readme.indexOf('```sh\n', readme.indexOf('Try it'));
  const end = readme.indexOf('\n```', start + 6);
  return readme.slice(start + 6, end);
}

describe('README "Try it"', () => {
  it('runs as written: publish answered, the SDK vehicle and mosquitto_sub get the message', () => {
    const block = tryItBlock();
    expect(block).toContain('npm run -s token');
    const dir = mkdtempSync(join(tmpdir(), 'abe-readme-'));
    const r = spawnSync('bash', ['-c', `set -e\n${block}`], {
      cwd: REPO,
      env: { ...process.env, DATA_DIR: join(dir, 'data'), POSITIONS_FILE: join(dir, 'positions.json') },
      encoding: 'utf8',
      timeout: 90_000,
    });
    const out = r.stdout;
    expect(out, r.stderr).toMatch(/\{"area":"city:district-7","offset":1,"epoch":"[0-9a-f-]+","duplicate":false\}/);
    expect(out).toContain('{"area":"city:district-7","offset":1,"source":"live","data":{"kind":"road-damage","lane":2}}');
    expect(out).toContain('{"kind":"road-damage","lane":2}\n');
    expect(r.status, r.stderr).toBe(0);
    // `kill $ENGINE` stopped the engine (npm passes the signal on): the port is free again
    let up = true;
    for (let i = 0; i < 50 && up; i++) {
      up = spawnSync('curl', ['-sf', 'http://127.0.0.1:8080/healthz'], { timeout: 2000 }).status === 0;
      if (up) spawnSync('sleep', ['0.2']);
    }
    expect(up).toBe(false);
  }, 120_000);
});
