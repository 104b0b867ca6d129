/**
 * GET /v1/ws: upgrade (auth, subprotocol, connection limit), then the uWS socket lifecycle.
 * Backpressure: uWS's maxBackpressure is our per-socket budget; a send over it returns
 * WRITE_DROPPED, the area pauses that socket, and `drain` resumes it from its virtual cursors.
 */
import type { HttpResponse, TemplatedApp, WebSocket, us_socket_context_t } from 'uWebSockets.js';
import type { Authenticator } from '../../auth/types.ts';
import { CLOSE, ERRORS, isEngineError, type CloseReason } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { EngineMetrics } from '../../metrics/metrics.ts';
import { WsConnection, type WsUserData } from './connection.ts';
import type { WsContext } from './context.ts';
import { dispatchFrame, type DispatchLimits } from './dispatch.ts';
import { chooseSubprotocol, SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK, type WireFormat } from './protocol.ts';

export interface WsEndpointOptions extends DispatchLimits {
  readonly maxConnections: number;
  readonly maxBackpressureBytes: number;
  /** FormatTable indices of the two v1 formats. */
  readonly formats: { readonly json: number; readonly msgpack: number };
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
  metrics: EngineMetrics,
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

  app.ws<WsUserData>('/v1/ws', {
    maxPayloadLength: opts.maxClientFrameBytes * 4, // uWS hard cap; our own check (4504) sits below it
    maxBackpressure: opts.maxBackpressureBytes,
    closeOnBackpressureLimit: 0,
    idleTimeout: 120,
    sendPingsAutomatically: true,

    upgrade: (res: HttpResponse, req, context: us_socket_context_t) => {
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
      const wire: WireFormat | undefined = chooseSubprotocol(protocolHeader);
      if (wire === undefined) return refuse(res, 'bad_request', `subprotocol must be ${SUBPROTOCOL_JSON} or ${SUBPROTOCOL_MSGPACK}`);
      const token = bearer(authorization) ?? (queryToken === '' ? undefined : queryToken);
      const format = wire === 'json' ? opts.formats.json : opts.formats.msgpack;
      const chosen = protocolHeader.trim() === '' ? '' : wire === 'json' ? SUBPROTOCOL_JSON : SUBPROTOCOL_MSGPACK;
      // A connect storm presents tokens already verified (or none in dev mode): upgrade in this
      // callback, with no promise or closures that would outlive it [issue 6].
      const known = auth.authenticateKnown?.(token);
      if (known !== undefined) {
        res.upgrade<WsUserData>({ conn: new WsConnection(known, wire, format, onEngineClose) }, key, chosen, extensions, context);
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
          const conn = new WsConnection(principal, wire, format, onEngineClose);
          res.cork(() => res.upgrade<WsUserData>({ conn }, key, chosen, extensions, context));
        },
        (err: unknown) => {
          if (aborted) return;
          metrics.authFailures(token === undefined ? 'missing_token' : 'invalid_token').inc();
          const msg = isEngineError(err) ? err.message : 'authentication failed';
          logger.info({ remote, reason: msg }, 'websocket upgrade refused');
          res.cork(() => refuse(res, 'unauthorized', msg));
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
      dispatchFrame(ctx, opts, ws.getUserData().conn, data, isBinary);
    },

    drain: (ws) => {
      const conn = ws.getUserData().conn;
      if (conn.paused && ws.getBufferedAmount() < resumeBelow) resume(conn);
    },

    close: (ws) => {
      const conn = ws.getUserData().conn;
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
      for (const conn of [...connections]) {
        onEngineClose(conn, 'going_away', 'shutdown');
        conn.endNow('going_away');
      }
    },
  };
}

function bearer(header: string): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m === null ? undefined : m[1];
}

function refuse(res: HttpResponse, code: keyof typeof ERRORS, message: string): void {
  const status = ERRORS[code].status;
  res
    .writeStatus(`${status} ${statusText(status)}`)
    .writeHeader('content-type', 'application/json')
    .end(JSON.stringify({ code, message }));
}

export function statusText(status: number): string {
  return STATUS_TEXT[status] ?? 'Error';
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};
