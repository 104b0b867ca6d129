/**
 * The MQTT/TCP listener. It is a `net.Server` in every case, so host names, IPv6 and cluster
 * workers (whose listen() goes through the primary: a shared handle, or connections handed over
 * round-robin) work as Node does them. What differs is what an accepted connection becomes:
 * - raw (default): the listening handle's `onconnection` is replaced by raw-tcp.ts's, and the
 *   connection stays a bare libuv handle, with no net.Socket;
 * - net (--mqtt-sockets net, or when this Node lacks the bindings or the server's `_handle`):
 *   a net.Socket adopted into the shared read buffer (tcp-accept.ts).
 * Both report to the same RawTcpEvents and hand out an MqttTransport that behaves the same. (In a
 * cluster worker, a connection the primary hands over in the same IPC read as the listen reply
 * arrives before the switch and takes the net path: it works the same.)
 */
import { createServer, type Server } from 'node:net';
import type { TcpHandle } from '../shared/libuv.ts';
import { rawAccept, type RawTcpEvents } from './raw-tcp.ts';
import { adoptAccepted } from './tcp-accept.ts';
import { TcpTransport } from './transport.ts';

/**
 * Connections the kernel may hold complete but not yet accepted (capped by net.core.somaxconn).
 * libuv 1.46 accepts ONE connection per event-loop turn (libuv#3696), and a turn of a saturated
 * engine is a whole fan-out: at mix-19k the MQTT accept queue grew past Node's default backlog
 * (511; measured up to 622-889 with `ss -ltn`), and the handshakes it dropped came back only after
 * SYN retransmits of 1, 3, 7, 15 s (nstat ListenOverflows / TCPSynRetrans; 0 with this backlog).
 */
const ACCEPT_BACKLOG = 4096;

export interface TcpListener {
  readonly port: number;
  /** Which sockets its connections are. */
  readonly kind: 'raw' | 'net';
  close(): void;
}

export async function listenTcp(at: { host: string; port: number }, sockets: 'raw' | 'net', events: RawTcpEvents): Promise<TcpListener> {
  // Paused on accept (net path): adoptAccepted moves the handle to a socket that reads into the shared buffer.
  const server = createServer({ noDelay: true, pauseOnConnect: true }, (accepted) => {
    if (!events.admit()) return void accepted.destroy();
    let t: TcpTransport | undefined;
    const socket = adoptAccepted(accepted, (b) => events.bytes(t!.owner, b));
    t = new TcpTransport(socket);
    events.open(t);
    socket.on('drain', () => events.drain(t.owner));
    socket.on('error', () => undefined); // 'close' follows
    socket.on('close', () => events.closed(t.owner));
  });
  server.on('error', (err: NodeJS.ErrnoException) => events.acceptError(err.code ?? err.message));
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: at.port, host: at.host, backlog: ACCEPT_BACKLOG }, () => {
      server.off('error', reject);
      const a = server.address();
      resolve(typeof a === 'object' && a !== null ? a.port : at.port);
    });
  });
  const kind = sockets === 'raw' && takeAccepts(server, events) ? 'raw' : 'net';
  return { port, kind, close: () => server.close() };
}

/** Makes the server's listening handle accept into bare handles; false if it cannot. */
function takeAccepts(server: Server, events: RawTcpEvents): boolean {
  const handle = (server as unknown as { _handle?: { onconnection?: unknown } | null })._handle;
  if (handle === null || handle === undefined || typeof handle.onconnection !== 'function') return false;
  const accept = rawAccept(events);
  if (accept === undefined) return false;
  (handle as { onconnection: (status: number, client: TcpHandle | undefined) => void }).onconnection = accept;
  return true;
}
