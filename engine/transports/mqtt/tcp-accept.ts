/**
 * MQTT/TCP reads into ONE buffer per process instead of a Buffer per read: Node's `onread` option
 * (a net.Socket reads straight into a given buffer and calls back with the byte count, skipping
 * the Readable stream machinery). Node offers it only to sockets it constructs, not to those a
 * net.Server accepts, so an accepted socket (paused: `pauseOnConnect`) gives its handle to a new
 * Socket built with `onread`; the old object is destroyed WITHOUT its handle (it never read a
 * byte). At 19K subscribers every PUBACK is its own read: this is their whole allocation.
 *
 * `_handle` is Node's private field; if a Node version lacks it, the accepted socket is used as
 * is, with 'data' events (correct, only slower). The bytes passed to `onBytes` are valid only
 * during the call (MqttConnection.onBytes is written for that).
 */
import { Socket } from 'node:net';
import { READ_BUFFER } from './raw-tcp.ts';

/** The socket to use from now on: a new one reading into the shared buffer, or `accepted` itself. */
export function adoptAccepted(accepted: Socket, onBytes: (bytes: Buffer) => void): Socket {
  const internal = accepted as unknown as { _handle: object | null };
  const handle = internal._handle;
  if (handle === null || typeof handle !== 'object') {
    accepted.on('data', onBytes);
    accepted.resume();
    return accepted;
  }
  internal._handle = null;
  accepted.destroy(); // no handle: closes nothing, only releases the server's count of it
  const socket = new Socket({
    handle,
    readable: true,
    writable: true,
    onread: {
      buffer: READ_BUFFER,
      callback: (n: number, buf: Uint8Array) => {
        onBytes(Buffer.from(buf.buffer, buf.byteOffset, n));
      },
    },
  } as ConstructorParameters<typeof Socket>[0]);
  socket.setNoDelay(true);
  return socket;
}
