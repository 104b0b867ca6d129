/**
 * TEST HELPERS ONLY: a small tmpfs a test can fill up, for real "no space left on device" faults
 * (engine/e2e/full-disk.test.ts). Needs root (CI and this machine run as root); a test that asked
 * for one fails with the reason instead of skipping, so the fault suite never silently goes away.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Tmpfs {
  readonly dir: string;
  /** Writes a file of up to `bytes` zero bytes (stops quietly at ENOSPC); returns what was written. */
  fill(name: string, bytes?: number): number;
  /** Removes a file written by fill (gives its space back). */
  free(name: string): void;
  /** Remounts read-only (true) or read-write (false), as an operator or a failing device would. */
  readOnly(on: boolean): void;
  unmount(): void;
}

export function mountTmpfs(sizeBytes: number): Tmpfs {
  const dir = mkdtempSync(join(tmpdir(), 'abe-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const why = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? String(err);
    throw new Error(`cannot mount a tmpfs for the full-disk tests (needs root): ${why}`);
  }
  const chunk = Buffer.alloc(64 * 1024);
  return {
    dir,
    fill(name, bytes = Number.MAX_SAFE_INTEGER) {
      const fd = openSync(join(dir, name), 'a');
      let written = 0;
      try {
        while (written < bytes) {
          written += writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - written));
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      } finally {
        closeSync(fd);
      }
      return written;
    },
    free(name) {
      rmSync(join(dir, name), { force: true });
    },
    readOnly(on) {
      execFileSync('mount', ['-o', `remount,${on ? 'ro' : 'rw'}`, dir], { stdio: 'pipe' });
    },
    unmount() {
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
