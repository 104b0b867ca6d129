/**
 * The one dispatcher for inbound WebSocket frames (aedes-style: one small handler file per type).
 * Enforces the per-connection limits before decoding: frame size and frames per second.
 */
import { isEngineError } from '../../errors.ts';
import type { WsConnection } from './connection.ts';
import type { WsContext } from './context.ts';
import { handleAck } from './handlers/ack.ts';
import { handlePing } from './handlers/ping.ts';
import { handleSubscribe } from './handlers/subscribe.ts';
import { handleUnsubscribe } from './handlers/unsubscribe.ts';
import { decodeClientFrame, type ClientFrame } from './protocol.ts';

export interface DispatchLimits {
  readonly maxClientFrameBytes: number;
  readonly maxFramesPerSecond: number;
}

export function dispatchFrame(ctx: WsContext, limits: DispatchLimits, conn: WsConnection, data: ArrayBuffer, isBinary: boolean): void {
  if (conn.closed) return;
  const now = ctx.now();
  if (now - conn.frameWindowStart >= 1000) {
    conn.frameWindowStart = now;
    conn.frameCount = 0;
  }
  if (++conn.frameCount > limits.maxFramesPerSecond) {
    ctx.metrics.badInput('rate_limited').inc();
    conn.close('rate_limited', `more than ${limits.maxFramesPerSecond} frames per second`);
    return;
  }
  if (data.byteLength > limits.maxClientFrameBytes) {
    ctx.metrics.badInput('payload_too_large').inc();
    conn.close('message_too_big', `frame of ${data.byteLength} bytes, limit ${limits.maxClientFrameBytes}`);
    return;
  }
  let frame: ClientFrame;
  try {
    frame = decodeClientFrame(data, isBinary, conn.wireFormat);
  } catch (err) {
    ctx.metrics.badInput('bad_frame').inc();
    conn.close('bad_frame', isEngineError(err) ? err.message : 'undecodable frame');
    return;
  }
  switch (frame.type) {
    case 'ack':
      handleAck(ctx, conn, frame);
      return;
    case 'subscribe':
      handleSubscribe(ctx, conn, frame).catch((err: unknown) => {
        ctx.logger.error({ err, conn: conn.id }, 'subscribe handler failed');
        conn.close('internal', 'subscribe failed');
      });
      return;
    case 'unsubscribe':
      handleUnsubscribe(ctx, conn, frame);
      return;
    case 'ping':
      handlePing(conn);
      return;
  }
}
