/**
 * Picks the Pulsar client (`--pulsar-client native|websocket|auto`), only when `--log pulsar` is
 * configured (../factory.ts):
 *
 * - native: pulsar-client, an optional dependency around a native addon that embeds the Pulsar C++
 *   client (libpulsar, pulsar-client-cpp); this project installs it without its install script,
 *   which is the step that fetches that binary, so on most machines the import fails. The error
 *   says what is missing and how to get it.
 * - websocket: Pulsar's WebSocket API (./websocket/), nothing native.
 * - auto: native when it loads, else websocket; the caller logs which and why (one line).
 */
import { EngineError } from '../../errors.ts';
import type { ClientKind, PulsarModule } from './client-api.ts';
import { nativeModule } from './native.ts';
import { websocketModule } from './websocket/client.ts';

/** The pulsar-client version this engine is typechecked and tested against. */
export const PULSAR_CLIENT_VERSION = '1.18.0';
/** The Pulsar C++ client that version embeds (node_modules/pulsar-client/pulsar-client-cpp.txt). */
export const PULSAR_CPP_VERSION = '4.2.0';

export const INSTALL_HINT =
  `pulsar-client@${PULSAR_CLIENT_VERSION} is a native addon around the Pulsar C++ client (libpulsar, pulsar-client-cpp ${PULSAR_CPP_VERSION}). ` +
  'Install its native binding: run the package install script, which downloads the prebuilt binding with libpulsar linked in ' +
  `(\`cd node_modules/pulsar-client && npx node-pre-gyp install --fallback-to-build\`, or \`npm rebuild pulsar-client\` where install scripts are allowed), ` +
  'or build it from source: install the C++ client first (libpulsar and its headers, e.g. the apache-pulsar-client and apache-pulsar-client-dev ' +
  `packages from https://archive.apache.org/dist/pulsar/pulsar-client-cpp-${PULSAR_CPP_VERSION}/, or pkg/linux/download-cpp-client.sh from the ` +
  'pulsar-client-node repository), then `npm rebuild pulsar-client --build-from-source`. ' +
  'Without it, use --pulsar-client websocket (Pulsar\'s WebSocket API, nothing native) or the embedded log (--log embedded, the default).';

export type Importer = () => Promise<unknown>;

const defaultImporter: Importer = () => import('pulsar-client');

function describe(error: unknown): string {
  const msg = error instanceof Error ? error.message : String(error);
  return msg.split('\n')[0]!.slice(0, 300);
}

export type ClientChoice = 'native' | 'websocket' | 'auto';

export interface LoadedClient {
  readonly module: PulsarModule;
  readonly kind: Exclude<ClientKind, 'double'>;
  /** Why auto chose what it chose (logged once at start). */
  readonly reason: string;
}

export async function loadClient(choice: ClientChoice, importer: Importer = defaultImporter): Promise<LoadedClient> {
  if (choice === 'websocket') return { module: websocketModule, kind: 'websocket', reason: '--pulsar-client websocket' };
  if (choice === 'native') return { module: await loadPulsarClient(importer), kind: 'native', reason: '--pulsar-client native' };
  try {
    return { module: await loadPulsarClient(importer), kind: 'native', reason: 'auto: the native pulsar-client loaded' };
  } catch (error) {
    const why = (error instanceof Error ? error.message : String(error)).replace(` ${INSTALL_HINT}`, '');
    return { module: websocketModule, kind: 'websocket', reason: `auto: the native client is not available (${why}); using Pulsar's WebSocket API` };
  }
}

/** Imports pulsar-client or throws EngineError('log_unavailable') naming the missing native library. */
export async function loadPulsarClient(importer: Importer = defaultImporter): Promise<PulsarModule> {
  let mod: unknown;
  try {
    mod = await importer();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    const notInstalled = code === 'ERR_MODULE_NOT_FOUND' && /'pulsar-client'/.test(describe(error));
    const what = notInstalled
      ? `the optional dependency pulsar-client is not installed (npm install pulsar-client@${PULSAR_CLIENT_VERSION})`
      : 'the native Pulsar client library could not be loaded (libpulsar / pulsar-client-cpp: the native binding of pulsar-client is missing or cannot load)';
    throw new EngineError('log_unavailable', `--log pulsar: ${what}. Cause: ${describe(error)}. ${INSTALL_HINT}`, { cause: error });
  }
  const api = ((mod as { default?: unknown }).default ?? mod) as Partial<Parameters<typeof nativeModule>[0]>;
  if (typeof api.Client !== 'function' || typeof api.MessageId?.earliest !== 'function' || typeof api.AuthenticationToken !== 'function') {
    throw new EngineError('log_unavailable', `--log pulsar: pulsar-client loaded but does not export Client/MessageId/AuthenticationToken as expected (version ${PULSAR_CLIENT_VERSION} is supported). ${INSTALL_HINT}`);
  }
  return nativeModule(api as Parameters<typeof nativeModule>[0]);
}
