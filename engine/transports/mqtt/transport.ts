/**
 * The byte pipe under an MQTT connection: a TCP socket (node `net`) or a uWS WebSocket on
 * `/mqtt`. The connection and its handlers are the same for both.
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'uWebSockets.js';
import { WRITE_BUFFERED, WRITE_DROPPED, WRITE_OK } from '../../areas/subscriber.ts';
import type { MqttConnection } from './connection.ts';

export interface MqttTransport {
  /** 'mqtt' (TCP) or 'mqtt-ws': the `transport` label of abe_connections. */
  readonly kind: 'mqtt' | 'mqtt-ws';
  readonly remoteAddress: string;
  /** Writes bytes; returns WRITE_OK, WRITE_BUFFERED or WRITE_DROPPED (socket gone). */
  write(bytes: Uint8Array): number;
  /** Bytes queued in user space. */
  buffered(): number;
  /** The peer has closed (EOF read, or the socket is gone), even if our 'close' is still to come. */
  peerGone(): boolean;
  /** Runs `fn` with writes corked: what it writes leaves in one syscall. */
  corked(fn: () => void): void;
  /** Flushes what is queued, then closes. */
  end(): void;
  /** Closes now. */
  destroy(): void;
}

export class TcpTransport implements MqttTransport {
  readonly kind = 'mqtt' as const;
  readonly remoteAddress: string;
  /** Set by the listener's open (tcp-listen.ts). */
  owner!: MqttConnection;
  private gone = false;

  constructor(private readonly socket: Socket) {
    this.remoteAddress = socket.remoteAddress ?? '';
  }

  write(bytes: Uint8Array): number {
    if (this.gone || this.socket.destroyed) return WRITE_DROPPED;
    this.socket.write(bytes);
    return this.socket.writableLength > 0 ? WRITE_BUFFERED : WRITE_OK;
  }

  buffered(): number {
    return this.socket.writableLength;
  }

  peerGone(): boolean {
    return this.gone || this.socket.destroyed || this.socket.readableEnded;
  }

  corked(fn: () => void): void {
    this.socket.cork();
    try {
      fn();
    } finally {
      this.socket.uncork();
    }
  }

  end(): void {
    if (this.gone) return;
    this.gone = true;
    this.socket.end();
    // A peer that never reads would keep the socket half-open: bound the wait.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  destroy(): void {
    this.gone = true;
    this.socket.destroy();
  }
}

/** What uWS stores as the user data of an MQTT-over-WebSocket socket. */
export interface MqttWsUserData {
  readonly transport: WsTransport;
  /** Set in the uWS open handler. */
  conn?: MqttConnection;
}

export class WsTransport implements MqttTransport {
  readonly kind = 'mqtt-ws' as const;
  ws: WebSocket<MqttWsUserData> | undefined;

  constructor(readonly remoteAddress: string) {}

  write(bytes: Uint8Array): number {
    const ws = this.ws;
    if (ws === undefined) return WRITE_DROPPED;
    const r = ws.send(bytes, true, false);
    return r === 1 ? WRITE_OK : r === 0 ? WRITE_BUFFERED : WRITE_DROPPED;
  }

  buffered(): number {
    return this.ws === undefined ? 0 : this.ws.getBufferedAmount();
  }

  peerGone(): boolean {
    return this.ws === undefined;
  }

  corked(fn: () => void): void {
    if (this.ws === undefined) return fn();
    this.ws.cork(fn);
  }

  end(): void {
    const ws = this.ws;
    this.ws = undefined;
    try {
      ws?.end(1000);
    } catch {
      // already closed by the peer
    }
  }

  destroy(): void {
    const ws = this.ws;
    this.ws = undefined;
    try {
      ws?.close();
    } catch {
      // already closed
    }
  }

  /** uWS close handler ran: the socket is gone. */
  markGone(): void {
    this.ws = undefined;
  }
}
