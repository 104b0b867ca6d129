/** The per-connection packet rate (--max-frames-per-second). */
import type { MqttConnection } from './connection.ts';
import type { MqttContext } from './context.ts';
import { overFrameRate } from '../shared/frame-rate.ts';

/**
 * Counts one packet against --max-frames-per-second; closes with 0x96 past it. PUBACKs that settle
 * an in-flight message and QoS 1 PUBLISHes are not counted: both are bounded by flow control
 * (the window / Receive Maximum), so a fast subscriber or publisher is never cut off for them.
 */
export function overRate(ctx: MqttContext, conn: MqttConnection): boolean {
  if (!overFrameRate(conn, ctx.now(), ctx.settings.maxPacketsPerSecond)) return false;
  conn.failInput('message_rate_too_high', `more than ${ctx.settings.maxPacketsPerSecond} packets per second`);
  return true;
}
