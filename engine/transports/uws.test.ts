import { describe, expect, it } from 'vitest';
import { defaultCandidates, loadUws } from './uws.ts';

describe('loadUws', () => {
  it('loads a native uWS binary on this machine, never the JS fallback', () => {
    const { uws, build } = loadUws();
    expect(build).toMatch(/^(uws-current|uWebSockets\.js)@/);
    // The pure-JS shim has no native socket helpers; the binary does.
    expect(typeof uws.us_socket_local_port).toBe('function');
    expect(String(uws.App)).toContain('[native code]');
  });

  it('tries the current build before the v20.30 build', () => {
    expect(defaultCandidates().map((c) => c.pkg)).toEqual(['uws-current', 'uWebSockets.js']);
  });

  it('refuses to start, naming every candidate, when no native binary loads', () => {
    const attempt = () =>
      loadUws([
        { pkg: 'no-such-uws-package', binary: 'x.node' },
        { pkg: 'uWebSockets.js', binary: 'binaries/uws_nowhere_abi0.node' },
      ]);
    expect(attempt).toThrow(/Refusing to start on the pure-JS fallback/);
    expect(attempt).toThrow(/no-such-uws-package: not installed/);
    expect(attempt).toThrow(/uWebSockets\.js@20\.30\.0-unofficial\.0: Cannot find module/);
  });
});
