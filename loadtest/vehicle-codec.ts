/**
 * The seam between a vehicle's wire protocol and the rest of a load-generator process.
 * ./ws-vehicle.ts implements it for protocol v1 over WebSocket (JSON and msgpack); an MQTT
 * client codec (MQTT 3.1.1/5 vehicles, QoS 0/1, for the engine's MQTT listener or any broker)
 * implements the same four calls: the offset check, histograms, reconnects and reports
 * (./vehicles.ts, ./connector.ts, ./vehicle-worker.ts) stay as they are.
 *
 * All sockets of a process read into one shared buffer; `onData` is handed a slice of it and must
 * not keep a reference past the call (copy what spans reads into `v.rest`).
 */
import type { ParsedMessage } from './message-parse.ts';
import type { Transport } from './scenario.ts';
import type { Tally, Vehicle } from './vehicles.ts';

export interface CodecHost {
  readonly tally: Tally;
  readonly port: number;
  readonly maxFrameBytes: number;
  readonly acks: boolean;
  readonly areaNames: readonly string[];
  /** Bearer token for the handshake (WebSocket upgrade header / MQTT password). */
  readonly token: string | undefined;
  /** Receive time of the read being handled, µs. */
  readUs(): number;
  /** The handshake is done: the connector sends the subscribe. */
  upgraded(v: Vehicle): void;
  /** The subscription is confirmed (head = the area's head offset; recovered as the engine said). */
  subscribed(v: Vehicle, head: number, epoch: string, recovered: boolean): void;
  /** One message for `v` (parsed fields in `p`); the host records it and acks it if asked. */
  message(v: Vehicle, p: ParsedMessage, size: number): void;
  /** This connection attempt failed (refused upgrade, error before subscribing...). */
  attemptFailed(v: Vehicle, reason: string): void;
}

export interface VehicleCodec {
  readonly transport: Transport;
  /** Port to connect to when not the target's main port (the MQTT listener's). */
  readonly port?: number;
  /** Bytes to write once TCP is connected (upgrade request, CONNECT). */
  hello(v: Vehicle, host: CodecHost): Buffer;
  /** Bytes read for `v` in buf[start, end). May throw (protocol violation: the socket is destroyed). */
  onData(v: Vehicle, buf: Buffer, start: number, end: number, host: CodecHost): void;
  /**
   * The subscribe for v's area; with (epoch, last offset) when the vehicle was subscribed before.
   * undefined: nothing to send (an MQTT session resumed by the broker).
   */
  subscribe(v: Vehicle, host: CodecHost): Buffer | undefined;
  /** A cumulative ack of `offset` (undefined when the protocol acks otherwise). */
  ack(v: Vehicle, offset: number, host: CodecHost): Buffer | undefined;
}
