/**
 * The one dispatcher for inbound WebSocket frames (aedes-style: one small handler file per type).
 * Enforces the per-connection limits before decoding: frame size and frames per second.
 */
import { isEngineError } from '../../errors.ts';
import type { WsConnection } from './connection.ts';
import type { WsContext } from './context.ts';
import { matchJsonAck, matchMsgpackAck, NOT_AN_ACK } from './ack-frame.ts';
import { handleAck } from './handlers/ack.ts';
import { handlePing } from './handlers/ping.ts';
import { handleSubscribe } from './handlers/subscribe.ts';
import { handleUnsubscribe } from './handlers/unsubscribe.ts';
import { decodeClientFrame, type ClientFrame } from './protocol.ts';
import { overFrameRate } from '../shared/frame-rate.ts';

export interface DispatchLimits {
  readonly maxClientFrameBytes: number;
  readonly maxFramesPerSecond: number;
}


export function dispatchFrame(ctx: WsContext, limits: DispatchLimits, conn: WsConnection, data: ArrayBuffer, isBinary: boolean): void {
  if (conn.closed) return;
  if (overFrameRate(conn, ctx.now(), limits.maxFramesPerSecond)) {
    ctx.metrics.badInput('rate_limited').inc();
    conn.close('rate_limited', `more than ${limits.maxFramesPerSecond} frames per second`);
    return;
  }
  if (data.byteLength > limits.maxClientFrameBytes) {
    ctx.metrics.badInput('payload_too_large').inc();
    conn.close('message_too_big', `frame of ${data.byteLength} bytes, limit ${limits.maxClientFrameBytes}`);
    return;
  }
  const sole = conn.soleSubscription();
  if (sole !== null) {
    // The ack fast path (./ack-frame.ts): the connection's only area, recognised byte by byte.
    const bytes = new Uint8Array(data);
    const json = conn.wire.format === 'json';
    if (json !== isBinary) {
      const offset = json ? matchJsonAck(bytes, sole.cursor.id) : matchMsgpackAck(bytes, sole.cursor.id);
      if (offset !== NOT_AN_ACK) {
        handleAck(ctx, conn, sole.cursor.id, offset, sole);
        return;
      }
    }
  }
  let frame: ClientFrame;
  try {
    frame = decodeClientFrame(data, isBinary, conn.wire.format);
  } catch (err) {
    ctx.metrics.badInput('bad_frame').inc();
    conn.close('bad_frame', isEngineError(err) ? err.message : 'undecodable frame');
    return;
  }
  switch (frame.type) {
    case 'ack':
      handleAck(ctx, conn, frame.area, frame.offset, conn.subscription(frame.area));
      return;
    case 'subscribe':
      try {
        handleSubscribe(ctx, conn, frame)?.catch((err: unknown) => subscribeFailed(ctx, conn, err));
      } catch (err) {
        subscribeFailed(ctx, conn, err);
      }
      return;
    case 'unsubscribe':
      handleUnsubscribe(ctx, conn, frame);
      return;
    case 'ping':
      handlePing(conn);
      return;
  }
}

function subscribeFailed(ctx: WsContext, conn: WsConnection, err: unknown): void {
  ctx.logger.error({ err, conn: conn.id }, 'subscribe handler failed');
  conn.close('internal', 'subscribe failed');
}
