/**
 * GET /v1/ws: upgrade (auth, subprotocol, connection limit), then the uWS socket lifecycle.
 * Backpressure: uWS's maxBackpressure is our per-socket budget; a send over it returns
 * WRITE_DROPPED, the area pauses that socket, and `drain` resumes it from its virtual cursors.
 */
import type { HttpResponse, TemplatedApp, WebSocket, us_socket_context_t } from 'uWebSockets.js';
import type { Authenticator, Principal } from '../../auth/types.ts';
import { CLOSE, isEngineError, type CloseReason, type ErrorCode } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { WsEndpointMetrics } from './metrics.ts';
import { refuseUpgrade, type Admission, type Refused } from '../shared/admission.ts';
import { bearerToken } from '../shared/bearer.ts';
import { refuseHttp } from '../shared/http-reply.ts';
import { uwsRefusal } from '../shared/uws-close.ts';
import { refuseUnsupportedWsVersion } from '../shared/ws-upgrade.ts';
import { WsConnection, type WsUserData } from './connection.ts';
import type { WsContext } from './context.ts';
import { dispatchFrame, type DispatchLimits } from './dispatch.ts';
import { chooseSubprotocol, SUBPROTOCOLS, type Subprotocol } from './protocol.ts';

export interface WsEndpointOptions extends DispatchLimits {
  readonly maxConnections: number;
  readonly maxBackpressureBytes: number;
  /**
   * The FormatTable index of a subprotocol's message frames; activates a lazy one (the
   * `+deflate` formats are encoded only once a connection has asked for them).
   */
  readonly formatOf: (wire: Subprotocol) => number;
  /** Connect rate and flapping bans, shared with MQTT (../shared/admission.ts). */
  readonly admission: Admission;
}

export interface WsEndpoint {
  readonly connections: ReadonlySet<WsConnection>;
  /** Periodic: resume paused sockets whose buffers drained, close expired tokens. */
  sweep(now: number): void;
  /** Stop accepting, close every socket with `going_away`. */
  shutdown(): void;
}

export function mountWsEndpoint(
  app: TemplatedApp,
  ctx: WsContext,
  auth: Authenticator,
  metrics: WsEndpointMetrics,
  logger: Logger,
  opts: WsEndpointOptions,
): WsEndpoint {
  const connections = new Set<WsConnection>();
  let accepting = true;
  const resumeBelow = opts.maxBackpressureBytes / 2;

  const onEngineClose = (conn: WsConnection, reason: CloseReason, detail: string): void => {
    metrics.closes(reason).inc();
    const level = CLOSE[reason].reconnect && reason !== 'going_away' ? 'info' : 'warn';
    logger[level]({ conn: conn.id, subject: conn.principal.subject, remote: conn.remoteAddress, reason, code: CLOSE[reason].code, detail }, 'closing connection');
  };

  const resume = (conn: WsConnection): void => {
    conn.paused = false;
    for (const ref of conn.resolvedSubscriptions()) {
      if (!conn.paused) ref.cursor.resume(ref.slot, conn);
    }
  };

  const refusals = { httpErrors: metrics.httpErrors, logger };
  // Flapping is counted per subject only with auth on (dev mode: everyone is 'anonymous').
  const admitIdentity = (p: Principal, address: string): Refused | undefined =>
    opts.admission.tracksSubjectOrAddress ? opts.admission.admitIdentity('ws', { address, ...(auth.enabled && { subject: p.subject }) }) : undefined;
  const refuse = (res: HttpResponse, code: ErrorCode, message: string): void => refuseHttp(res, refusals, code, { message, what: 'websocket upgrade refused' });
  app.ws<WsUserData>('/v1/ws', {
    maxPayloadLength: opts.maxClientFrameBytes * 4, // uWS hard cap; our own check (4504) sits below it
    maxBackpressure: opts.maxBackpressureBytes,
    closeOnBackpressureLimit: 0,
    idleTimeout: 120,
    sendPingsAutomatically: true,

    upgrade: (res: HttpResponse, req, context: us_socket_context_t) => {
      if (refuseUnsupportedWsVersion(res, req, refusals)) return; // RFC 6455 §4.2.2: 426
      const key = req.getHeader('sec-websocket-key');
      const protocolHeader = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      const authorization = req.getHeader('authorization');
      const queryToken = req.getQuery('access_token');
      if (!accepting) return refuse(res, 'shutting_down', 'engine is shutting down');
      if (connections.size >= opts.maxConnections) {
        metrics.closes('too_many_connections').inc();
        return refuse(res, 'too_many_connections', `this process holds at most ${opts.maxConnections} connections`);
      }
      const address = opts.admission.needsAddress ? Buffer.from(res.getRemoteAddressAsText()).toString() : '';
      const gate = opts.admission.admitConnect('ws', address);
      if (gate !== undefined) return refuseUpgrade(res, refusals, gate, { address });
      const wire = chooseSubprotocol(protocolHeader);
      if (wire === undefined) return refuse(res, 'bad_request', `subprotocol must be one of ${Object.keys(SUBPROTOCOLS).join(', ')}`);
      const token = bearerToken(authorization) ?? (queryToken === '' ? undefined : queryToken);
      const chosen = protocolHeader.trim() === '' ? '' : wire.name;
      // A connect storm presents tokens already verified (or none in dev mode): upgrade in this
      // callback, with no promise or closures that would outlive it [issue 6].
      const known = auth.authenticateKnown?.(token);
      if (known !== undefined) {
        const banned = admitIdentity(known, address);
        if (banned !== undefined) return refuseUpgrade(res, refusals, banned, { address, subject: known.subject });
        // The format is activated only for an admitted connection: a refused one costs no encoding.
        res.upgrade<WsUserData>({ conn: new WsConnection(known, wire, opts.formatOf(wire), onEngineClose) }, key, chosen, extensions, context);
        return;
      }
      const remote = Buffer.from(res.getRemoteAddressAsText()).toString();
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      auth.authenticate(token).then(
        (principal) => {
          if (aborted) return;
          const banned = admitIdentity(principal, address);
          if (banned !== undefined) return refuseUpgrade(res, refusals, banned, { address: remote, subject: principal.subject });
          const conn = new WsConnection(principal, wire, opts.formatOf(wire), onEngineClose);
          res.cork(() => res.upgrade<WsUserData>({ conn }, key, chosen, extensions, context));
        },
        (err: unknown) => {
          if (aborted) return;
          metrics.authFailures(token === undefined ? 'missing_token' : 'invalid_token').inc();
          const msg = isEngineError(err) ? err.message : 'authentication failed';
          refuseHttp(res, refusals, 'unauthorized', { message: msg, what: 'websocket upgrade refused', level: 'info', fields: { remote } });
        },
      );
    },

    open: (ws: WebSocket<WsUserData>) => {
      const conn = ws.getUserData().conn;
      conn.ws = ws;
      connections.add(conn);
      metrics.wsConnections.inc();
    },

    message: (ws, data, isBinary) => {
      const conn = ws.getUserData().conn;
      try {
        dispatchFrame(ctx, opts, conn, data, isBinary);
      } catch (err) {
        // One bad frame must never take the process down: a handler that throws closes this connection only.
        logger.error({ err, conn: conn.id }, 'frame handler threw; closing this connection');
        conn.close('internal', 'frame handler failed');
      }
    },

    drain: (ws) => {
      const conn = ws.getUserData().conn;
      if (conn.paused && ws.getBufferedAmount() < resumeBelow) resume(conn);
    },

    close: (ws, code, message) => {
      const conn = ws.getUserData().conn;
      const refusal = uwsRefusal(code, message);
      if (refusal !== undefined) {
        // uWS refused the frame itself (over its hard cap, or text not UTF-8): count and log it like ours.
        ctx.metrics.badInput(refusal === 'message_too_big' ? 'payload_too_large' : 'bad_frame').inc();
        onEngineClose(conn, refusal, 'refused by uWS before the engine saw the frame; the client sees 1006');
      }
      conn.markGone();
      connections.delete(conn);
      metrics.wsConnections.dec();
      for (const ref of conn.clearSubscriptions()) {
        ref.cursor.detach(ref.slot);
        ctx.metrics.subscriptions.dec();
      }
    },
  });

  return {
    connections,
    sweep(now: number): void {
      for (const conn of connections) {
        if (conn.closed) continue;
        if (conn.principal.expiresAt !== 0 && now >= conn.principal.expiresAt) {
          conn.close('token_expired', 'token expired');
          continue;
        }
        if (conn.paused && conn.bufferedAmount() < resumeBelow) resume(conn);
      }
    },
    shutdown(): void {
      accepting = false;
      // One line for all: a line per socket was 100,000 lines (seconds of a SIGTERM) at 100K.
      const open = [...connections].filter((c) => !c.closed);
      metrics.closes('going_away').inc(open.length);
      logger.info({ connections: open.length, reason: 'going_away', code: CLOSE.going_away.code }, 'shutdown: closing every websocket connection with going_away');
      for (const conn of open) conn.endNow('going_away');
    },
  };
}
