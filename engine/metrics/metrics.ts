/**
 * The engine's Prometheus metrics (prom-client). Created once; label children are resolved here
 * or cached on first use, so hot paths hold a child and call inc()/observe() only (pino-style).
 * Labels are low-cardinality: no per-vehicle labels; per-area gauges only for areas open here.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AreaMetrics, CounterLike } from '../areas/metrics.ts';
import type { AreaGaugeSink } from '../areas/registry.ts';
import type { CloseReason, ErrorCode } from '../errors.ts';
import type { WsMetrics } from '../transports/ws/context.ts';

export interface EngineMetrics {
  readonly registry: Registry;
  readonly areas: AreaMetrics;
  readonly ws: WsMetrics;
  readonly areaGauges: AreaGaugeSink;
  readonly wsConnections: { inc(): void; dec(): void };
  readonly closes: (reason: CloseReason) => CounterLike;
  readonly authFailures: (reason: string) => CounterLike;
  readonly publishes: (result: 'ok' | 'duplicate' | 'error') => CounterLike;
  readonly appendSeconds: { observe(v: number): void };
  readonly httpErrors: (code: ErrorCode) => CounterLike;
}

const PREFIX = 'abe_';

function cachedChildren<K extends string, C>(make: (k: K) => C): (k: K) => C {
  const cache = new Map<K, C>();
  return (k: K) => {
    let c = cache.get(k);
    if (c === undefined) {
      c = make(k);
      cache.set(k, c);
    }
    return c;
  };
}

export function createMetrics(): EngineMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: PREFIX });
  const r = [registry];

  const connections = new Gauge({ name: `${PREFIX}connections`, help: 'Open vehicle connections', labelNames: ['transport'], registers: r });
  const subscriptions = new Gauge({ name: `${PREFIX}subscriptions`, help: 'Active area subscriptions', registers: r });
  const closes = new Counter({ name: `${PREFIX}connection_closes_total`, help: 'Connections closed by the engine, by close reason', labelNames: ['reason'], registers: r });
  const delivered = new Counter({ name: `${PREFIX}messages_delivered_total`, help: 'Live message frames written to sockets', registers: r });
  const replayed = new Counter({ name: `${PREFIX}messages_replayed_total`, help: 'Frames written by catch-up (resume, drain, resend)', registers: r });
  const resent = new Counter({ name: `${PREFIX}messages_resent_total`, help: 'Messages re-sent because acks lagged past the resend timeout', registers: r });
  const logReads = new Counter({ name: `${PREFIX}catchup_log_reads_total`, help: 'Log range reads for catch-up beyond the ring', registers: r });
  const slowCloses = new Counter({ name: `${PREFIX}slow_consumer_closes_total`, help: 'Connections closed because they fell out of the retained window', registers: r });
  const ackTimeouts = new Counter({ name: `${PREFIX}ack_timeout_closes_total`, help: 'Connections closed because acks stopped advancing', registers: r });
  const undeliverable = new Counter({ name: `${PREFIX}messages_undeliverable_total`, help: 'Log records that could not be encoded for delivery (skipped)', registers: r });
  const fanout = new Histogram({
    name: `${PREFIX}fanout_duration_seconds`,
    help: 'Time to write one message to every live subscriber of an area in this process',
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: r,
  });
  const acks = new Counter({ name: `${PREFIX}acks_total`, help: 'Acks accepted into virtual cursors', registers: r });
  const subscribes = new Counter({ name: `${PREFIX}subscribes_total`, help: 'Successful subscribes', registers: r });
  const recoveredFalse = new Counter({ name: `${PREFIX}recovered_false_total`, help: 'Resume requests answered recovered:false', registers: r });
  const badInput = new Counter({ name: `${PREFIX}bad_input_total`, help: 'Rejected client input by error code', labelNames: ['code'], registers: r });
  const authFailures = new Counter({ name: `${PREFIX}auth_failures_total`, help: 'Authentication failures by reason', labelNames: ['reason'], registers: r });
  const publishes = new Counter({ name: `${PREFIX}publishes_total`, help: 'Publishes by result', labelNames: ['result'], registers: r });
  const append = new Histogram({
    name: `${PREFIX}log_append_duration_seconds`,
    help: 'Time from accepting a publish to the log answering it durable',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: r,
  });
  const httpErrors = new Counter({ name: `${PREFIX}http_errors_total`, help: 'REST error answers by code', labelNames: ['code'], registers: r });
  const areaHead = new Gauge({ name: `${PREFIX}area_head_offset`, help: 'Newest offset read by this process, per open area', labelNames: ['area'], registers: r });
  const areaMinAcked = new Gauge({ name: `${PREFIX}area_min_acked_offset`, help: 'Lowest virtual-cursor ack offset of the area\'s subscribers in this process', labelNames: ['area'], registers: r });
  const areaSubs = new Gauge({ name: `${PREFIX}area_subscribers`, help: 'Subscribers per open area in this process', labelNames: ['area'], registers: r });

  const badInputChild = cachedChildren((code: ErrorCode) => badInput.labels(code));
  const wsConn = connections.labels('ws');
  return {
    registry,
    areas: {
      delivered,
      replayed,
      resent,
      logReads,
      slowConsumerCloses: slowCloses,
      ackTimeoutCloses: ackTimeouts,
      undeliverable,
      fanoutSeconds: fanout,
    },
    ws: { acks, subscribes, recoveredFalse, badInput: badInputChild, subscriptions },
    areaGauges: {
      report(area, head, minAcked, subscribers) {
        areaHead.labels(area).set(head);
        areaMinAcked.labels(area).set(minAcked);
        areaSubs.labels(area).set(subscribers);
      },
      forget(area) {
        areaHead.remove(area);
        areaMinAcked.remove(area);
        areaSubs.remove(area);
      },
    },
    wsConnections: wsConn,
    closes: cachedChildren((reason: CloseReason) => closes.labels(reason)),
    authFailures: cachedChildren((reason: string) => authFailures.labels(reason)),
    publishes: cachedChildren((result: 'ok' | 'duplicate' | 'error') => publishes.labels(result)),
    appendSeconds: append,
    httpErrors: cachedChildren((code: ErrorCode) => httpErrors.labels(code)),
  };
}
