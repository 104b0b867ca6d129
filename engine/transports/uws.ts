/**
 * Loads a NATIVE uWebSockets.js build, or refuses to start.
 *
 * The npm package we can install on Node 20 / glibc 2.36 (`@trufflesuite/uws-js-unofficial`,
 * aliased `uWebSockets.js`) silently falls back to a pure-JS `ws` shim when its binary does not
 * load. That shim would run the engine at a fraction of the speed with different backpressure
 * semantics, so we never go through the package's entry point: we require the `.node` binary
 * directly and fail loudly if none loads (DEVELOPERS.md, "uWebSockets.js").
 *
 * Order: a current build first (optional dependency `uws-current`, a republish of uWS.js v20.5x
 * with binaries for Node 20-25 that needs glibc >= 2.38), then the v20.30 build (Node 16-20,
 * glibc 2.36).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as UwsTypes from 'uWebSockets.js';

export type Uws = typeof UwsTypes;

export interface LoadedUws {
  readonly uws: Uws;
  /** Which candidate loaded, e.g. 'uws-current@20.57.0'. */
  readonly build: string;
}

const require = createRequire(import.meta.url);

export interface Candidate {
  readonly pkg: string;
  /** Binary file name inside the package folder (relative). */
  readonly binary: string;
}

export function defaultCandidates(): Candidate[] {
  const file = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  return [
    { pkg: 'uws-current', binary: file },
    { pkg: 'uWebSockets.js', binary: join('binaries', file) },
  ];
}

function packageDir(pkg: string): string | undefined {
  try {
    return dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    return undefined;
  }
}

export function loadUws(candidates: readonly Candidate[] = defaultCandidates()): LoadedUws {
  const failures: string[] = [];
  for (const c of candidates) {
    const dir = packageDir(c.pkg);
    if (dir === undefined) {
      failures.push(`${c.pkg}: not installed`);
      continue;
    }
    const version = (require(join(dir, 'package.json')) as { version: string }).version;
    try {
      const uws = require(join(dir, c.binary)) as Uws;
      if (typeof uws.App !== 'function' || typeof uws.us_socket_local_port !== 'function') {
        failures.push(`${c.pkg}@${version}: binary loaded but does not look like uWS.js`);
        continue;
      }
      return { uws, build: `${c.pkg}@${version}` };
    } catch (e) {
      const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
      failures.push(`${c.pkg}@${version}: ${msg}`);
    }
  }
  throw new Error(
    'No native uWebSockets.js binary loads on this machine ' +
      `(node ${process.version}, ABI ${process.versions.modules}, ${process.platform}-${process.arch}). ` +
      'Refusing to start on the pure-JS fallback shim, which is not uWS. Tried:\n  ' +
      failures.join('\n  '),
  );
}
