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

/** 64 KiB: a read never exceeds it; larger packets arrive in several reads (the framer joins them). */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

export interface Accepted {
  readonly socket: Socket;
  /** true when reads go through the shared buffer (false: the 'data' fallback). */
  readonly sharedReads: boolean;
}

export function adoptAccepted(accepted: Socket, onBytes: (bytes: Buffer) => void): Accepted {
  const internal = accepted as unknown as { _handle: object | null };
  const handle = internal._handle;
  if (handle === null || typeof handle !== 'object') {
    accepted.on('data', onBytes);
    accepted.resume();
    return { socket: accepted, sharedReads: false };
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
  return { socket, sharedReads: true };
}
