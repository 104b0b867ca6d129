/**
 * The MQTT listeners: TCP (--mqtt-port; bare libuv handles or node:net, tcp-listen.ts) and WebSocket on the HTTP port at `/mqtt`
 * (subprotocol `mqtt`), both feeding the same MqttConnection. Also the periodic sweep
 * (token expiry, drained sockets, session checkpoints, session expiry; keepalive has its own timer
 * per connection, see keepalive.ts).
 */
import type { Compressor } from '../../areas/compression.ts';
import type { Packet } from 'mqtt-packet';
import type { HttpResponse, TemplatedApp, WebSocket } from 'uWebSockets.js';
import type { AreaRegistry } from '../../areas/registry.ts';
import type { AreaService } from '../../areas/service.ts';
import type { Authenticator } from '../../auth/types.ts';
import type { Logger } from '../../logger.ts';
import type { SessionStore } from '../../sessions/types.ts';
import { MQTT_CLOSE } from '../../errors.ts';
import type { Admission } from '../shared/admission.ts';
import { errorBurst } from '../shared/error-burst.ts';
import { refuseHttp } from '../shared/http-reply.ts';
import { uwsRefusal } from '../shared/uws-close.ts';
import { refuseUnsupportedWsVersion } from '../shared/ws-upgrade.ts';
import { MqttConnection } from './connection.ts';
import type { MqttContext, MqttMetrics, MqttSettings } from './context.ts';
import { dispatchPacket } from './dispatch.ts';
import type { MqttFormats } from './encoders.ts';
import { flushDelayedWills, sessionGone } from './session-gone.ts';
import { listenTcp } from './tcp-listen.ts';
import { WildcardDirectory } from './wildcards.ts';
import { WsTransport, type MqttTransport, type MqttWsUserData } from './transport.ts';

export interface MqttDeps {
  readonly areas: AreaRegistry;
  readonly service: AreaService;
  readonly auth: Authenticator;
  readonly sessions: SessionStore;
  readonly formats: MqttFormats;
  readonly compressor: Compressor;
  readonly metrics: MqttMetrics;
  readonly logger: Logger;
  readonly now: () => number;
  /** Open WebSocket (v1) connections, so --max-connections covers every transport. */
  readonly otherConnections: () => number;
  /** Connect rate and flapping bans (../shared/admission.ts). */
  readonly admission: Admission;
}

export interface MqttEndpoint {
  /** The bound TCP port (the real one when --mqtt-port is 0). */
  readonly port: number;
  readonly connections: ReadonlySet<MqttConnection>;
  sweep(now: number): void;
  /** Stop accepting; DISCONNECT 0x8B everyone (their sessions are saved). */
  shutdown(): void;
  /** After shutdown: waits for session writes and closes the store. */
  close(): Promise<void>;
}

/** Sessions expired sessions are looked for this often. */
const EXPIRE_EVERY_MS = 60_000;
/**
 * TCP sockets over --max-connections are dropped at accept; a few beyond it are let in so that
 * CONNECT can be answered with Server busy (0x89 / 3.1.1 0x03) instead of a bare reset.
 */
const PRE_CONNECT_SLACK = 64;
const REFRESH_IDLE_SESSION_MS = 60_000;

export async function startMqtt(app: TemplatedApp, deps: MqttDeps, settings: MqttSettings, listen: { host: string; port: number }): Promise<MqttEndpoint> {
  const connections = new Set<MqttConnection>();
  const ctx: MqttContext = {
    ...deps,
    settings,
    live: new Map(),
    delayedWills: new Map(),
    shared: new Map(),
    wildcards: new WildcardDirectory(connections),
    connectionCount: () => connections.size + deps.otherConnections(),
  };
  let accepting = true;
  // One dispatcher and one gone hook for every connection (no closures per connection).
  const sink = (c: MqttConnection, p: Packet): void => dispatchPacket(ctx, c, p);
  const onGone = (c: MqttConnection): void => sessionGone(ctx, c);
  const open = (transport: MqttTransport): MqttConnection => {
    const conn = new MqttConnection(ctx, transport, sink, onGone);
    connections.add(conn);
    deps.metrics.connections(transport.kind).inc();
    return conn;
  };
  const gone = (conn: MqttConnection): void => {
    conn.onTransportClosed();
    if (connections.delete(conn)) deps.metrics.connections(conn.transport.kind).dec();
  };

  const listener = await listenTcp(listen, settings.tcpSockets, {
    admit: () => accepting && ctx.connectionCount() < settings.maxConnections + PRE_CONNECT_SLACK,
    open: (t) => (t.owner = open(t)),
    bytes: (conn, b) => conn.onBytes(b),
    drain: (conn) => conn.resumePaused(),
    closed: gone,
    acceptError: (code) => acceptFailed(deps.logger, { code }),
  });
  deps.logger.info({ port: listener.port, sockets: listener.kind }, 'mqtt tcp listener');
  const port = listener.port;

  const refusals = { httpErrors: deps.metrics.httpErrors, logger: deps.logger };
  app.ws<MqttWsUserData>('/mqtt', {
    maxPayloadLength: settings.maxPacketBytes + 1024,
    // Our own budget check comes first (writeMessage); the headroom keeps control packets flowing.
    maxBackpressure: settings.maxBackpressureBytes * 2 + settings.maxPacketBytes,
    closeOnBackpressureLimit: 0,
    idleTimeout: 0, // MQTT keepalive is enforced by the sweep
    sendPingsAutomatically: false,
    upgrade: (res: HttpResponse, req, context) => {
      if (refuseUnsupportedWsVersion(res, req, refusals)) return; // RFC 6455 §4.2.2: 426
      const key = req.getHeader('sec-websocket-key');
      const offered = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      const remote = Buffer.from(res.getRemoteAddressAsText()).toString();
      if (!accepting) return refuseHttp(res, refusals, 'shutting_down', { what: 'mqtt websocket upgrade refused' });
      if (ctx.connectionCount() >= settings.maxConnections) return refuseHttp(res, refusals, 'too_many_connections', { what: 'mqtt websocket upgrade refused' });
      const chosen = offered.split(',').map((s) => s.trim()).find((s) => s === 'mqtt' || s === 'mqttv3.1');
      if (chosen === undefined) return refuseHttp(res, refusals, 'bad_request', { message: 'subprotocol must be mqtt', what: 'mqtt websocket upgrade refused' });
      res.upgrade<MqttWsUserData>({ transport: new WsTransport(remote) }, key, chosen, extensions, context);
    },
    open: (ws: WebSocket<MqttWsUserData>) => {
      const data = ws.getUserData();
      data.transport.ws = ws;
      data.conn = open(data.transport);
    },
    message: (ws, bytes) => {
      // uWS reuses the ArrayBuffer after this callback: onBytes takes transient bytes (the framer copies what it keeps).
      ws.getUserData().conn?.onBytes(Buffer.from(bytes));
    },
    drain: (ws) => ws.getUserData().conn?.resumePaused(),
    close: (ws, code, message) => {
      const data = ws.getUserData();
      const refusal = uwsRefusal(code, message);
      if (refusal !== undefined) {
        deps.metrics.badInput(MQTT_CLOSE[refusal]).inc();
        deps.logger.warn({ remote: data.transport.remoteAddress, reason: MQTT_CLOSE[refusal], closeReason: refusal }, 'mqtt over websocket: frame refused by uWS, connection dropped (client sees 1006)');
      }
      data.transport.markGone();
      if (data.conn !== undefined) gone(data.conn);
    },
  });

  let lastExpire = deps.now();
  return {
    port,
    connections,
    sweep(now: number): void {
      for (const conn of connections) sweepOne(ctx, conn, now);
      ctx.wildcards.poll(ctx);
      if (now - lastExpire >= EXPIRE_EVERY_MS) {
        lastExpire = now;
        deps.sessions.expireSessions(now, (id) => ctx.live.has(id)).catch((err: unknown) => deps.logger.error({ err }, 'session expiry failed'));
      }
    },
    shutdown(): void {
      accepting = false;
      listener.close();
      deps.logger.info({ connections: connections.size, reason: 'server_shutting_down' }, 'shutdown: DISCONNECT 0x8B to every mqtt connection');
      for (const conn of [...connections]) conn.disconnect('server_shutting_down', 'engine shutting down');
      flushDelayedWills(ctx);
    },
    async close(): Promise<void> {
      await deps.sessions.flush();
      await deps.sessions.close();
    },
  };
}

/** accept(2) failures come in floods (EMFILE: libuv reports every connection it had to drop). */
const acceptFailed = errorBurst('mqtt listener: accept failed');

function sweepOne(ctx: MqttContext, conn: MqttConnection, now: number): void {
  if (conn.closed) return;
  if (conn.state !== 'connected') {
    if (now - conn.openedAt > ctx.settings.connectTimeoutMs) conn.fail('protocol_error', `no CONNACK-able CONNECT within ${ctx.settings.connectTimeoutMs} ms`);
    return;
  }
  const expiresAt = conn.principal?.expiresAt ?? 0;
  if (expiresAt !== 0 && now >= expiresAt) return conn.disconnect('maximum_connect_time', 'token expired');
  conn.dropped = true; // once a second, look for paused subscriptions whatever paused them
  conn.resumePaused();
  // Checkpoint moved positions, each session on its own clock (savedAt), so the writes of 19K
  // sessions spread over the interval instead of landing in one sweep; refresh idle sessions too,
  // so expiry counts from the last sign of life.
  const age = now - conn.savedAt;
  if ((conn.dirty && age >= ctx.settings.checkpointMs) || age > REFRESH_IDLE_SESSION_MS) conn.saveSession();
}

