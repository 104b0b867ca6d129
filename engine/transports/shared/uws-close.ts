/**
 * Refusals uWS makes on its own, before the engine sees the frame [issue 13 item 3]. uWS 20.30
 * (both WebSocket endpoints, /v1/ws and /mqtt) drops the TCP connection with no close frame when a
 * frame is over `maxPayloadLength` or a text frame is not UTF-8, and then runs the close handler
 * with code 1006 and one of these texts (the only two protocol refusals its binary reports this
 * way). The client can only see 1006; the engine maps them to a registry reason so they are
 * counted and logged like its own refusals, not lost among ordinary disconnects.
 */
import type { CloseReason } from '../../errors.ts';

const UWS_REFUSALS: Readonly<Record<string, CloseReason>> = {
  'Received too big message': 'message_too_big',
  'Received invalid UTF-8': 'invalid_utf8',
};

/** The reason for a close uWS made itself, or undefined for any other close. */
export function uwsRefusal(code: number, message: ArrayBuffer): CloseReason | undefined {
  if (code !== 1006 || message.byteLength === 0 || message.byteLength > 64) return undefined;
  return UWS_REFUSALS[Buffer.from(message).toString('latin1')];
}
