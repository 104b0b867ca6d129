/**
 * The one dispatcher for inbound MQTT packets (aedes-style: one small handler file per packet
 * type). Enforces the order of the protocol (CONNECT first, packets held while it is being
 * authenticated) and the per-connection packet rate.
 */
import type { Packet } from 'mqtt-packet';
import type { MqttConnection } from './connection.ts';
import type { MqttContext } from './context.ts';
import { handleConnect } from './handlers/connect.ts';
import { handleDisconnect } from './handlers/disconnect.ts';
import { handlePuback } from './handlers/puback.ts';
import { handlePubcomp } from './handlers/pubcomp.ts';
import { handlePubrec } from './handlers/pubrec.ts';
import { handlePubrel } from './handlers/pubrel.ts';
import { handlePublish } from './handlers/publish.ts';
import { handleSubscribe } from './handlers/subscribe.ts';
import { handleUnsubscribe } from './handlers/unsubscribe.ts';
import { overRate } from './rate.ts';

const ACK_FLOW: Readonly<Partial<Record<Packet['cmd'], true>>> = { puback: true, pubrec: true, pubrel: true, pubcomp: true };

/** Packets held while CONNECT is being authenticated. */
const MAX_QUEUED = 64;

export function dispatchPacket(ctx: MqttContext, conn: MqttConnection, p: Packet): void {
  if (conn.closed) return;
  // Acknowledgements and QoS 1/2 publishes are bounded by the windows (Receive Maximum both ways), not the rate.
  if (!ACK_FLOW[p.cmd] && !(p.cmd === 'publish' && p.qos > 0) && overRate(ctx, conn)) return;
  if (conn.state === 'new') {
    if (p.cmd !== 'connect') return conn.fail('protocol_error', `first packet is ${p.cmd}, not connect`);
    conn.state = 'connecting';
    handleConnect(ctx, conn, p).then(
      () => drainQueue(ctx, conn),
      (err: unknown) => {
        ctx.logger.error({ err, conn: conn.id }, 'mqtt connect handler failed');
        conn.refuseConnect('unspecified_error', 'internal error');
      },
    );
    return;
  }
  if (conn.state === 'connecting') {
    conn.queue ??= [];
    if (conn.queue.length >= MAX_QUEUED) return conn.failInput('message_rate_too_high', `more than ${MAX_QUEUED} packets before CONNACK`);
    conn.queue.push(p);
    return;
  }
  route(ctx, conn, p);
}

function route(ctx: MqttContext, conn: MqttConnection, p: Packet): void {
  switch (p.cmd) {
    case 'publish':
      return handlePublish(ctx, conn, p);
    case 'puback':
      return handlePuback(ctx, conn, p);
    case 'pubrec':
      return handlePubrec(ctx, conn, p);
    case 'pubrel':
      return handlePubrel(ctx, conn, p);
    case 'pubcomp':
      return handlePubcomp(ctx, conn, p);
    case 'subscribe':
      handleSubscribe(ctx, conn, p).catch((err: unknown) => {
        ctx.logger.error({ err, conn: conn.id }, 'mqtt subscribe handler failed');
        conn.disconnect('unspecified_error', 'subscribe failed');
      });
      return;
    case 'unsubscribe':
      return handleUnsubscribe(ctx, conn, p);
    case 'pingreq':
      return conn.send({ cmd: 'pingresp' });
    case 'disconnect':
      return handleDisconnect(ctx, conn, p);
    case 'connect':
      return conn.fail('protocol_error', 'second CONNECT [MQTT-3.1.0-2]');
    case 'auth':
      return conn.fail('protocol_error', 'AUTH without enhanced authentication');
    default:
      // Server-to-client packet types.
      return conn.fail('protocol_error', `unexpected ${p.cmd}`);
  }
}

function drainQueue(ctx: MqttContext, conn: MqttConnection): void {
  const failure = conn.deferredFailure;
  let before = failure === undefined ? Infinity : failure.after;
  const queue = conn.queue;
  conn.queue = undefined;
  while (queue !== undefined && conn.state === 'connected' && queue.length > 0 && before-- > 0) route(ctx, conn, queue.shift()!);
  if (failure !== undefined && conn.state === 'connected') {
    conn.deferredFailure = undefined;
    conn.fail(failure.reason, failure.detail);
  }
}
