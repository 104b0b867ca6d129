/**
 * TEST HELPERS ONLY: Debian's headless Chromium driven by playwright-core, for the browser suites
 * (the /dashboard page, the vehicle SDK). playwright-core is imported by name at run time, so
 * typechecking never needs the package; each suite declares the part of its Page API it uses.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

export const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function hasPlaywright(): boolean {
  try {
    createRequire(import.meta.url).resolve('playwright-core');
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a browser suite runs: with /usr/bin/chromium and playwright-core, or always under
 * ABE_REQUIRE_BROWSER=1 (CI: fail rather than skip). Prints why it skips otherwise.
 */
export function browserSuiteRuns(suite: string): boolean {
  const available = existsSync(CHROMIUM) && hasPlaywright();
  if (!available && process.env.ABE_REQUIRE_BROWSER !== '1') console.warn(`${suite} skipped: needs ${CHROMIUM} (apt-get install chromium) and playwright-core`);
  return available || process.env.ABE_REQUIRE_BROWSER === '1';
}

/** A persistent Chromium context on `profile`; `extraArgs` are added to the headless defaults. */
export async function launchChromium<Context>(profile: string, opts: Record<string, unknown> = {}, extraArgs: readonly string[] = []): Promise<Context> {
  const { chromium } = (await import('playwright-core' as string)) as { chromium: { launchPersistentContext(dir: string, o: Record<string, unknown>): Promise<Context> } };
  return chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: [...ARGS, ...extraArgs], ...opts });
}
