/**
 * MQTT's own counters, registered in the engine's prom-client registry (same `abe_` prefix);
 * acks, subscribes and subscriptions reuse the transport-neutral handles the engine passes in
 * (MqttHostMetrics: the transport names what it needs; engine/metrics is never imported here).
 */
import { Counter, type Registry } from 'prom-client';
import type { CounterLike } from '../../areas/metrics.ts';
import type { ErrorCode, MqttReason } from '../../errors.ts';
import type { MqttMetrics } from './context.ts';
import type { WsMetrics } from '../ws/metrics.ts';

/** What MQTT takes from the engine's metrics (EngineMetrics has all of it). */
export interface MqttHostMetrics {
  readonly registry: Registry;
  /** The transport-neutral handles (abe_acks_total, abe_subscribes_total...). */
  readonly ws: Pick<WsMetrics, 'acks' | 'subscribes' | 'recoveredFalse' | 'subscriptions'>;
  readonly connections: (transport: string) => { inc(): void; dec(): void };
  readonly httpErrors: (code: ErrorCode) => CounterLike;
  /** Adds the MQTT paused-connections probe. */
  probe(probes: { pausedConnections: Readonly<Record<string, () => number>> }): void;
}

function children(counter: Counter): (label: string) => CounterLike {
  const cache = new Map<string, CounterLike>();
  return (label: string) => {
    let c = cache.get(label);
    if (c === undefined) {
      c = counter.labels(label);
      cache.set(label, c);
    }
    return c;
  };
}

export function createMqttMetrics(engine: MqttHostMetrics): MqttMetrics {
  const registers = [engine.registry];
  const counter = (name: string, help: string, labelNames: string[] = []): Counter => new Counter({ name: `abe_mqtt_${name}`, help, labelNames, registers });
  const badInput = children(counter('bad_input_total', 'MQTT refusals and closes caused by client input, by MQTT reason', ['reason']));
  const disconnects = children(counter('disconnects_total', 'MQTT connections closed by the engine, by MQTT reason', ['reason']));
  return {
    badInput: (reason: MqttReason) => badInput(reason),
    disconnects: (reason: MqttReason) => disconnects(reason),
    sessionsResumed: counter('sessions_resumed_total', 'CONNECTs that resumed a stored session (session present)'),
    retainedSent: counter('retained_sent_total', 'Retained messages sent on SUBSCRIBE'),
    oversizeSkipped: counter('oversize_skipped_total', "Messages not sent because they exceed the client's Maximum Packet Size"),
    acks: engine.ws.acks,
    subscribes: engine.ws.subscribes,
    recoveredFalse: engine.ws.recoveredFalse,
    subscriptions: engine.ws.subscriptions,
    connections: engine.connections,
    httpErrors: engine.httpErrors,
  };
}
