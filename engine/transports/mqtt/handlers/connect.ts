/**
 * CONNECT: authenticate (username = client id, password = the JWT), take over an older
 * connection of the same client id [MQTT-3.1.4-3], load or discard the session, CONNACK, then
 * resume the session's subscriptions (re-checked against the token: a session never outlives
 * the rights that created it).
 */
import { randomUUID } from 'node:crypto';
import type { IConnectPacket } from 'mqtt-packet';
import type { Principal } from '../../../auth/types.ts';
import { isEngineError } from '../../../errors.ts';
import type { StoredSession, StoredSubscription } from '../../../sessions/types.ts';
import { FROM_START } from '../../../areas/registry.ts';
import { attachAgain } from '../attach.ts';
import { expandWildcard } from '../wildcards.ts';
import type { MqttConnection } from '../connection.ts';
import type { MqttContext } from '../context.ts';
import { InFlight, resumeFrom } from '../inflight.ts';
import { MqttSubscription } from '../subscription.ts';
import { joinShared, startShared } from '../shared-group.ts';
import { areaOfTopic, parseFilter } from '../topics.ts';
import { cancelDelayedWill } from '../session-gone.ts';

/** MQTT 5 "never expires"; 3.1.1 persistent sessions ask for it implicitly. */
const NEVER = 0xffffffff;
/**
 * Room for what the engine adds to a PUBLISH (`offset` and `time` User Properties, Content Type,
 * Payload Format Indicator: under 100 bytes). A 5.0 client whose Maximum Packet Size is below
 * --max-payload-bytes plus this gets the lean formats, without them: otherwise a small message
 * could be discarded only because of what we added [MQTT-3.1.2-24, -25].
 */
const ENGINE_PROPERTY_ROOM = 128;

export async function handleConnect(ctx: MqttContext, conn: MqttConnection, p: IConnectPacket): Promise<void> {
  const s = ctx.settings;
  conn.version = p.protocolVersion === 5 ? 5 : 4;
  const v5 = conn.version === 5;
  const props = p.properties ?? {};
  // A CONNECT that will take over a live connection of its client id adds no connection (the
  // older one closes): refusing it as busy left vehicles that reconnect faster than their old
  // socket's close is read locked out at the limit (mix-19k). Its token is still checked below.
  const takesOver = p.clientId !== undefined && p.clientId !== '' && ctx.live.has(p.clientId);
  if (ctx.connectionCount() > s.maxConnections && !takesOver) return conn.refuseConnect('server_busy', `this process holds at most ${s.maxConnections} connections`);
  // Before the token is verified: a storm costs one bucket test per CONNECT (../../shared/admission.ts).
  const listener = conn.transport.kind === 'mqtt' ? 'mqtt_tcp' : 'mqtt_ws';
  const address = conn.transport.remoteAddress;
  const gate = ctx.admission.admitConnect(listener, address);
  if (gate !== undefined) return conn.refuseConnect('connection_rate_exceeded', `${gate.reason}: retry in ${gate.retryAfterSeconds} s`);
  if (v5 && props.authenticationMethod !== undefined) {
    return conn.refuseConnect('bad_authentication_method', 'enhanced authentication is not supported: send the token as password');
  }
  const clean = p.clean !== false;
  let clientId = p.clientId ?? '';
  if (Buffer.byteLength(clientId) > 256) return conn.refuseConnect('client_identifier_not_valid', 'client id over 256 bytes');
  if (clientId === '' && !v5 && !clean) return conn.refuseConnect('client_identifier_not_valid', 'an empty client id needs clean session [MQTT-3.1.3-8]');

  let principal: Principal;
  try {
    principal = await ctx.auth.authenticate(ctx.auth.enabled ? p.password?.toString('utf8') : undefined);
  } catch (err) {
    return conn.refuseConnect('bad_user_name_or_password', isEngineError(err) ? err.message : 'authentication failed');
  }
  if (conn.closed) return;
  let assigned = false;
  if (clientId === '') {
    clientId = ctx.auth.enabled ? principal.subject : `anon-${randomUUID()}`;
    assigned = true;
  }
  if (ctx.auth.enabled) {
    if (clientId !== principal.subject) return conn.refuseConnect('not_authorized', `client id ${clientId} is not the token subject`);
    if (p.username !== undefined && p.username !== clientId) return conn.refuseConnect('bad_user_name_or_password', 'username must be the client id');
  }
  // Flapping: counted per client id the client chose (an assigned one is new each time), per subject with auth on.
  const banned = ctx.admission.admitIdentity(listener, { address, ...(!assigned && { clientId }), ...(ctx.auth.enabled && { subject: principal.subject }) });
  if (banned !== undefined) return conn.refuseConnect('connection_rate_exceeded', `${banned.reason}: retry in ${banned.retryAfterSeconds} s`);
  if (p.will !== undefined) {
    const area = areaOfTopic(p.will.topic);
    if (area === undefined) return conn.refuseConnect('topic_name_invalid', 'will topic must be areas/{area}');
    if (!principal.canPublish(area)) return conn.refuseConnect('not_authorized', `the token may not publish to ${area} (will)`);
    const payload = typeof p.will.payload === 'string' ? Buffer.from(p.will.payload) : p.will.payload;
    const wp = p.will.properties ?? {};
    conn.will = {
      area,
      payload,
      retain: p.will.retain === true,
      qos: (p.will.qos ?? 0) as 0 | 1 | 2,
      properties: v5 ? wp : undefined,
      contentType: wp.contentType,
      ttlSeconds: wp.messageExpiryInterval ?? 0,
      delaySeconds: v5 ? (wp.willDelayInterval ?? 0) : 0,
    };
  }

  // Keepalive: 0 or over the maximum becomes the maximum (announced to 5.0 clients).
  const asked = p.keepalive ?? 0;
  const keepalive = asked === 0 || asked > s.keepaliveMaxSeconds ? s.keepaliveMaxSeconds : asked;
  const requestedExpiry = v5 ? (props.sessionExpiryInterval ?? 0) : clean ? 0 : NEVER;
  const expiry = Math.min(requestedExpiry, s.sessionExpiryMaxSeconds);

  // Takeover [MQTT-3.1.4-3]: the older connection persists its session synchronously (the store's get sees it).
  let older = ctx.live.get(clientId);
  if (older !== undefined && older !== conn) {
    // An attempt the client gave up on must never take over the connection it made instead (the
    // mix-19k race: a CONNECT read just before its socket's EOF took over the newer connection).
    // So let the sockets' pending events run first, then look again: a CONNECT whose socket the
    // peer has closed is dropped, and one older than the live connection's is refused.
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (conn.closed || conn.transport.peerGone()) {
      ctx.logger.debug({ conn: conn.id, clientId }, 'mqtt CONNECT from a socket the client already closed: no takeover');
      return conn.clientDisconnected();
    }
    older = ctx.live.get(clientId);
  }
  if (older !== undefined && older !== conn) {
    // A CONNECT on a connection accepted before the live one is an attempt the client gave up on
    // (it connected again since), however late its CONNECT was read or authenticated: it must not
    // take over the newer connection, it is the one refused. Accept order, not CONNECT order: at
    // mix-19k a stale socket's CONNECT was read after the retry's and took it over (0x8E).
    if (older.id > conn.id) {
      return conn.refuseConnect('session_taken_over', `a newer connection of client id ${clientId} is already connected`);
    }
    older.disconnect('session_taken_over', `client id ${clientId} connected again from ${conn.transport.remoteAddress}`);
  }
  // A reconnect within the Will Delay Interval cancels the will [MQTT-3.1.3-9].
  cancelDelayedWill(ctx, clientId);
  const now = ctx.now();
  let stored: StoredSession | undefined = ctx.sessions.getSession(clientId);
  if (stored !== undefined && (clean || stored.expiresAt <= now)) {
    stored = undefined;
    void ctx.sessions.deleteSession(clientId).catch((err: unknown) => ctx.logger.error({ err, clientId }, 'session delete failed'));
  }

  conn.clientId = clientId;
  conn.principal = principal;
  conn.keepaliveMs = keepalive * 1000;
  conn.expirySeconds = expiry;
  conn.problemInfo = props.requestProblemInformation !== false;
  conn.clientMaxPacket = v5 && props.maximumPacketSize !== undefined ? props.maximumPacketSize : Infinity;
  conn.lean = conn.clientMaxPacket < s.maxPayloadBytes + ENGINE_PROPERTY_ROOM;
  // A new connection starts with a full send quota [MQTT-4.9.0-1].
  conn.inflight = new InFlight(v5 ? Math.min(props.receiveMaximum ?? 65535, s.inflightWindow) : s.inflightWindow);
  ctx.live.set(clientId, conn);
  conn.connected();
  conn.send({
    cmd: 'connack',
    sessionPresent: stored !== undefined,
    ...(v5 ? { reasonCode: 0 } : { returnCode: 0 }),
    ...(v5 && {
      properties: {
        receiveMaximum: s.receiveMaximum,
        retainAvailable: true,
        maximumPacketSize: s.maxPacketBytes,
        topicAliasMaximum: 0,
        subscriptionIdentifiersAvailable: false,
        ...(assigned && { assignedClientIdentifier: clientId }),
        ...(keepalive !== asked && { serverKeepAlive: keepalive }),
        ...(expiry !== requestedExpiry && { sessionExpiryInterval: expiry }),
      },
    }),
  });
  ctx.logger.debug({ conn: conn.id, clientId, version: conn.version, sessionPresent: stored !== undefined, transport: conn.transport.kind }, 'mqtt connected');
  if (stored !== undefined) resumeSession(ctx, conn, stored);
  conn.saveSession();
}

/** Re-subscribes a stored session's areas from their positions; resends carry DUP=1. */
function resumeSession(ctx: MqttContext, conn: MqttConnection, stored: StoredSession): void {
  ctx.metrics.sessionsResumed.inc();
  // QoS 2 state both ways [MQTT-4.4.0-1]: ids we PUBREC'd still await the client's PUBREL; ids the
  // client PUBREC'd get our PUBREL again (before any new PUBLISH).
  for (const id of stored.qos2Received ?? []) (conn.qos2Received ??= new Map()).set(id, Promise.resolve('success'));
  for (const id of stored.qos2Releasing ?? []) {
    if (conn.inflight.has(id)) continue;
    conn.inflight.releasing.push(id);
    conn.send({ cmd: 'pubrel', messageId: id });
  }
  for (const st of stored.subscriptions) {
    if (!conn.principal!.canSubscribe(st.area)) {
      ctx.metrics.badInput('not_authorized').inc();
      ctx.logger.info({ clientId: conn.clientId, area: st.area }, 'mqtt session subscription dropped: the token no longer allows the area');
      continue;
    }
    if (conn.subs.size >= ctx.settings.maxSubscriptions) break;
    if (st.share !== undefined) {
      resumeShare(ctx, conn, st);
      continue;
    }
    const options = { qos: st.qos, nl: st.nl === true, rap: st.rap === true, deflate: st.deflate === true };
    const sub = new MqttSubscription(conn, st.area, options, ctx.formats.format(conn, options), st.via);
    const from = resumeFrom(st.qos, st.acked, st.sent);
    sub.stored = st;
    sub.dupUpTo = from.dupUpTo;
    conn.subs.set(st.area, sub);
    attachAgain(ctx, conn, sub, { epoch: st.epoch, offset: from.since });
  }
  if (stored.wildcards === undefined || stored.wildcards.length === 0) return;
  // Wildcards go on meeting areas; those that appeared while the session was away come from their start.
  const wildcards = new Map(stored.wildcards.map((w) => [w.filter, { qos: w.qos, nl: w.nl, rap: w.rap, deflate: w.deflate === true }]));
  conn.wildcards = wildcards;
  ctx.wildcards.areas(ctx).then(
    (areas) => {
      for (const [filter, o] of wildcards) expandWildcard(ctx, conn, filter, o, areas, FROM_START, 2);
    },
    (err: unknown) => ctx.logger.error({ err, clientId: conn.clientId }, 'mqtt wildcard: listing the areas failed'),
  );
}

/** A shared subscription membership of a resumed session: rejoin (or recreate) its group. */
function resumeShare(ctx: MqttContext, conn: MqttConnection, st: StoredSubscription): void {
  const f = parseFilter(st.share!);
  if (f.kind !== 'shared' || f.area === undefined) return;
  const options = { qos: Math.min(st.qos, 1) as 0 | 1, nl: false, rap: st.rap === true, deflate: st.deflate === true };
  const member = new MqttSubscription(conn, f.area, options, ctx.formats.format(conn, options));
  (conn.shares ??= new Map()).set(st.share!, member);
  joinShared(ctx, member, f.group!, { epoch: st.epoch, offset: st.acked }).then(
    (ok) => {
      if (ok && member.group !== undefined) return startShared(member.group);
      conn.detach(member);
      conn.shares?.delete(st.share!);
      if (!conn.closed) conn.disconnect('unspecified_error', `could not resume shared subscription ${st.share}`);
    },
    (err: unknown) => ctx.logger.error({ err, clientId: conn.clientId }, 'mqtt shared subscription resume failed'),
  );
}
