/**
 * Checks shared by the engine's WebSocket upgrade handlers (/v1/ws in ../ws/endpoint.ts, MQTT over
 * WebSocket /mqtt in ../mqtt/endpoint.ts), before anything else of the handshake is looked at.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { refuseHttp, type RefusalSink } from './http-reply.ts';

/** The only WebSocket protocol version there is (RFC 6455 §4.1: the client MUST send 13). */
export const WS_VERSION = '13';

/**
 * RFC 6455 §4.2.2: a handshake in a version the server does not speak is refused with an HTTP
 * error such as 426 Upgrade Required and a `Sec-WebSocket-Version` header listing the versions the
 * server understands (§4.4 shows the exchange). uWS 20.30 does not look at the header and would
 * answer 101 to anything, e.g. a hybi-08 client (version 8), which then speaks framing it never
 * agreed to. A missing header is refused the same way: it is not a version-13 handshake either
 * (§4.2.1 item 6).
 *
 * Returns true when it answered (426 `upgrade_required`, counted in abe_http_errors_total, a debug
 * line); the upgrade handler then returns without upgrading.
 */
export function refuseUnsupportedWsVersion(res: HttpResponse, req: HttpRequest, sink: RefusalSink): boolean {
  const version = req.getHeader('sec-websocket-version').trim();
  if (version === WS_VERSION) return false;
  refuseHttp(res, sink, 'upgrade_required', {
    what: 'websocket upgrade refused',
    message: `Sec-WebSocket-Version ${version === '' ? 'missing' : `${JSON.stringify(version.slice(0, 32))} not supported`}; this server speaks version ${WS_VERSION} (RFC 6455)`,
    headers: { 'Sec-WebSocket-Version': WS_VERSION },
    fields: { path: req.getUrl(), version: version.slice(0, 32), remote: Buffer.from(res.getRemoteAddressAsText()).toString() },
  });
  return true;
}
