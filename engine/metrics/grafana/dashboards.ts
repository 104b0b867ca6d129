/**
 * The three Grafana dashboards: overview, latency breakdown, per area. Metric names are the
 * engine's (engine/metrics/metrics.ts); prom-client's default process metrics carry the abe_
 * prefix too (abe_process_resident_memory_bytes, abe_nodejs_eventloop_lag_p99_seconds...).
 */
import { STAGES } from '../stages.ts';
import { bargauge, dashboard, heatmap, m, meanOf, quantileOf, rate, stat, table, timeseries, SEL, type Json } from './panels.ts';

const STAGE = 'abe_stage_latency_seconds';
const TAGS = ['area-broadcast-engine'];
const E2E = 'stage="fanout_end"';
const LAG = (q: number): string => `histogram_quantile(${q}, sum by (le) (${m('abe_subscriber_lag_messages')}))`;

const IN_STAGE: Record<(typeof STAGES)[number], string> = {
  durable: 'persist (accept → durable)',
  read: 'tail (durable → read)',
  fanout_start: 'queue (encode, earlier messages)',
  fanout_end: 'fan-out (write to subscribers)',
  ack: 'vehicle (written → ack)',
};

/**
 * Mean time IN each stage, as engine/metrics/breakdown.ts computes it: persist = min(durable,
 * read) (a log may show a commit to readers before the append returns), then each stage minus
 * the previous one. `A <= B or B < A` is min() of two one-series vectors; `or` falls back when
 * a side has no data (no durable stage when publishers write to Pulsar directly).
 */
function inStageTargets(): { expr: string; legend: string }[] {
  const [d, r, s, e, a] = STAGES.map((st) => meanOf(STAGE, `stage="${st}"`));
  const persist = `((${d} <= ${r}) or (${r} < ${d}))`;
  return [
    { expr: `${persist} or ${d}`, legend: IN_STAGE.durable },
    { expr: `clamp_min(${r} - ${persist}, 0) or ${r}`, legend: IN_STAGE.read },
    { expr: `clamp_min(${s} - ${r}, 0)`, legend: IN_STAGE.fanout_start },
    { expr: `clamp_min(${e} - ${s}, 0)`, legend: IN_STAGE.fanout_end },
    { expr: `clamp_min(${a} - ${e}, 0)`, legend: IN_STAGE.ack },
  ];
}

export function overview(): Json {
  return dashboard({
    uid: 'abe-overview',
    title: 'Area broadcast engine · Overview',
    description: 'Connections, throughput, end-to-end latency, trouble and process health of the engine processes.',
    tags: TAGS,
    layout: [
      stat({ title: 'Ready', w: 3, h: 4, unit: 'none', targets: [{ expr: `min(${m('abe_ready')})` }], thresholds: [[0, 'red'], [1, 'green']], mappings: [{ type: 'value', options: { '0': { text: 'NOT READY' }, '1': { text: 'READY' } } }] }),
      stat({ title: 'Log', w: 3, h: 4, unit: 'none', targets: [{ expr: `min(${m('abe_log_healthy')})` }], thresholds: [[0, 'red'], [1, 'green']], mappings: [{ type: 'value', options: { '0': { text: 'UNAVAILABLE' }, '1': { text: 'OK' } } }] }),
      stat({ title: 'Connected vehicles', w: 4, h: 4, targets: [{ expr: `sum(${m('abe_connections')})` }] }),
      stat({ title: 'Publishes / s', w: 3, h: 4, unit: 'ops', targets: [{ expr: rate('abe_publishes_total', 'result="ok"') }] }),
      stat({ title: 'Deliveries / s', w: 4, h: 4, unit: 'ops', targets: [{ expr: rate('abe_messages_delivered_total') }] }),
      stat({ title: 'End-to-end P99 (accept → written)', w: 4, h: 4, unit: 's', targets: [{ expr: quantileOf(0.99, STAGE, E2E) }], thresholds: [[0.5, 'orange'], [1, 'red']] }),
      stat({ title: 'Slow-consumer closes (1h)', w: 3, h: 4, unit: 'short', decimals: 0, targets: [{ expr: `sum(increase(${m('abe_slow_consumer_closes_total')}[1h]))` }], thresholds: [[1, 'orange'], [100, 'red']] }),
      'Vehicles',
      timeseries({ title: 'Connections by transport and process', w: 8, stack: true, targets: [{ expr: `sum by (transport, worker) (${m('abe_connections')})`, legend: '{{transport}} worker {{worker}}' }] }),
      timeseries({ title: 'Subscriptions by state', description: 'paused = socket over its backpressure budget; catching_up/replaying = behind the head, sending from the ring/log', w: 8, stack: true, targets: [{ expr: `sum by (state) (${m('abe_subscriptions_by_state')})`, legend: '{{state}}' }] }),
      timeseries({ title: 'Connection closes by reason', w: 8, unit: 'ops', targets: [{ expr: rate('abe_connection_closes_total', '', 'reason'), legend: '{{reason}}' }] }),
      'Throughput',
      timeseries({ title: 'Publishes by result', w: 8, unit: 'ops', targets: [{ expr: rate('abe_publishes_total', '', 'result'), legend: '{{result}}' }] }),
      timeseries({
        title: 'Messages written to vehicles',
        w: 8,
        unit: 'ops',
        targets: [
          { expr: rate('abe_messages_delivered_total'), legend: 'live' },
          { expr: rate('abe_messages_replayed_total'), legend: 'catch-up (resume, drain, resend)' },
          { expr: rate('abe_messages_resent_total'), legend: 'resent (ack timeout)' },
        ],
      }),
      timeseries({
        title: 'Acks and replays',
        w: 8,
        unit: 'ops',
        targets: [
          { expr: rate('abe_acks_total'), legend: 'acks' },
          { expr: rate('abe_resume_requests_total'), legend: 'resume requests' },
          { expr: rate('abe_recovered_false_total'), legend: 'recovered:false' },
          { expr: rate('abe_catchup_log_reads_total'), legend: 'catch-up log reads' },
        ],
      }),
      'Latency and lag',
      timeseries({
        title: 'End-to-end latency (accept → written to every subscriber)',
        w: 8,
        unit: 's',
        targets: [
          { expr: quantileOf(0.5, STAGE, E2E), legend: 'P50' },
          { expr: quantileOf(0.99, STAGE, E2E), legend: 'P99' },
          { expr: quantileOf(0.99, STAGE, 'stage="ack"'), legend: 'ack P99' },
        ],
      }),
      timeseries({ title: 'Subscriber lag (head − virtual cursor)', w: 8, unit: 'short', targets: [{ expr: LAG(0.5), legend: 'P50' }, { expr: LAG(0.99), legend: 'P99' }, { expr: `max(${m('abe_subscriber_lag_max_messages')})`, legend: 'max' }] }),
      timeseries({ title: 'Backpressure', w: 8, targets: [{ expr: `sum by (transport) (${m('abe_paused_connections')})`, legend: 'paused {{transport}} connections' }, { expr: `sum(${m('abe_pending_appends')})`, legend: 'publishes waiting for the log' }] }),
      'Bad input',
      timeseries({ title: 'Authentication failures by reason', w: 8, unit: 'ops', targets: [{ expr: rate('abe_auth_failures_total', '', 'reason'), legend: '{{reason}}' }] }),
      timeseries({ title: 'Rejected vehicle input by code', w: 8, unit: 'ops', targets: [{ expr: rate('abe_bad_input_total', '', 'code'), legend: '{{code}}' }] }),
      timeseries({ title: 'REST errors by code', w: 8, unit: 'ops', targets: [{ expr: rate('abe_http_errors_total', '', 'code'), legend: '{{code}}' }] }),
      'Process',
      timeseries({ title: 'Event-loop lag', w: 6, unit: 's', targets: [{ expr: `max by (instance) (${m('abe_nodejs_eventloop_lag_p99_seconds')})`, legend: 'P99 {{instance}}' }, { expr: `max by (instance) (${m('abe_nodejs_eventloop_lag_mean_seconds')})`, legend: 'mean {{instance}}' }] }),
      timeseries({ title: 'Memory', w: 6, unit: 'bytes', targets: [{ expr: `sum by (instance) (${m('abe_process_resident_memory_bytes')})`, legend: 'RSS {{instance}}' }, { expr: `sum by (instance) (${m('abe_nodejs_heap_size_used_bytes')})`, legend: 'heap used {{instance}}' }] }),
      timeseries({ title: 'CPU', w: 6, unit: 'percentunit', targets: [{ expr: `sum by (instance) (rate(${m('abe_process_cpu_seconds_total')}[$__rate_interval]))`, legend: '{{instance}}' }] }),
      timeseries({ title: 'Open areas', w: 6, targets: [{ expr: `sum by (instance) (${m('abe_open_areas')})`, legend: '{{instance}}' }] }),
    ],
  });
}

export function latency(): Json {
  return dashboard({
    uid: 'abe-latency',
    title: 'Area broadcast engine · Latency breakdown',
    description: 'Where a message spends its time: accept → durable → read by the area cursor → fan-out → ack, from abe_stage_latency_seconds (each stage timed from accept).',
    tags: TAGS,
    layout: [
      timeseries({ title: 'Mean time in each stage (stacked = accept → last stage)', description: 'Each stage minus the previous one (all timed from accept); persist counts only up to the read when the cursor reads a message before its publisher is answered', w: 12, h: 9, unit: 's', stack: true, targets: inStageTargets() }),
      bargauge({ title: 'Share of the time per stage (mean, over the range)', w: 12, h: 9, unit: 's', targets: inStageTargets().map((t) => ({ ...t, expr: t.expr.replaceAll('$__rate_interval', '$__range'), instant: true })) }),
      timeseries({ title: 'P99 from accept to each stage', w: 12, unit: 's', targets: [{ expr: quantileOf(0.99, STAGE, '', 'stage'), legend: '{{stage}}' }] }),
      timeseries({
        title: 'End-to-end percentiles (accept → written)',
        w: 12,
        unit: 's',
        targets: [0.5, 0.9, 0.99, 0.999].map((q) => ({ expr: quantileOf(q, STAGE, E2E), legend: `P${q * 100}` })),
      }),
      heatmap({ title: 'End-to-end latency distribution (accept → written)', w: 12, unit: 's', targets: [{ expr: `sum by (le) (increase(${m(`${STAGE}_bucket`, E2E)}[$__rate_interval]))`, legend: '{{le}}', format: 'heatmap' }] }),
      timeseries({ title: 'Ack received (accept → ack)', w: 12, unit: 's', targets: [0.5, 0.99].map((q) => ({ expr: quantileOf(q, STAGE, 'stage="ack"'), legend: `P${q * 100}` })) }),
      timeseries({ title: 'Log append (accept → durable)', w: 8, unit: 's', targets: [0.5, 0.99].map((q) => ({ expr: quantileOf(q, 'abe_log_append_duration_seconds'), legend: `P${q * 100}` })) }),
      timeseries({ title: 'Fan-out loop per message and area', w: 8, unit: 's', targets: [{ expr: meanOf('abe_fanout_duration_seconds'), legend: 'mean' }, { expr: quantileOf(0.99, 'abe_fanout_duration_seconds'), legend: 'P99' }] }),
      timeseries({ title: 'Event-loop lag (everything queues behind it)', w: 8, unit: 's', targets: [{ expr: `max(${m('abe_nodejs_eventloop_lag_p99_seconds')})`, legend: 'P99' }] }),
    ],
  });
}

const areaVar: Json = {
  name: 'area',
  label: 'area',
  type: 'query',
  datasource: { type: 'prometheus', uid: '${datasource}' },
  query: { query: 'label_values(abe_area_subscribers{job=~"$job"}, area)', refId: 'StandardVariableQuery' },
  definition: 'label_values(abe_area_subscribers{job=~"$job"}, area)',
  refresh: 2,
  includeAll: true,
  multi: true,
  allValue: '.*',
  current: { selected: true, text: ['All'], value: ['$__all'] },
  sort: 1,
};

export function perArea(): Json {
  const A = 'area=~"$area"';
  return dashboard({
    uid: 'abe-areas',
    title: 'Area broadcast engine · Areas',
    description: `Per-area figures. The engine exports abe_area_* only for its top N areas by subscribers and by lag (--metrics-top-areas), so quiet areas drop out. Filter: {${SEL}}.`,
    tags: TAGS,
    extraVars: [areaVar],
    layout: [
      table({
        title: 'Top areas now',
        w: 24,
        h: 9,
        targets: [
          { expr: `sum by (area) (${m('abe_area_subscribers', A)})`, instant: true, format: 'table' },
          { expr: `max by (area) (${m('abe_area_head_offset', A)})`, instant: true, format: 'table' },
          { expr: `min by (area) (${m('abe_area_min_acked_offset', A)})`, instant: true, format: 'table' },
          { expr: `max by (area) (${m('abe_area_max_lag_messages', A)})`, instant: true, format: 'table' },
        ],
      }),
      timeseries({ title: 'Max lag per area (head − slowest virtual cursor)', w: 12, targets: [{ expr: `topk(10, max by (area) (${m('abe_area_max_lag_messages', A)}))`, legend: '{{area}}' }] }),
      timeseries({ title: 'Subscribers per area', w: 12, targets: [{ expr: `topk(10, sum by (area) (${m('abe_area_subscribers', A)}))`, legend: '{{area}}' }] }),
      timeseries({ title: 'Messages per second per area (head offset rate)', w: 12, unit: 'ops', targets: [{ expr: `topk(10, max by (area) (deriv(${m('abe_area_head_offset', A)}[$__rate_interval])))`, legend: '{{area}}' }] }),
      timeseries({ title: 'Ack backlog per area (head − min acked)', w: 12, targets: [{ expr: `topk(10, max by (area) (${m('abe_area_head_offset', A)}) - min by (area) (${m('abe_area_min_acked_offset', A)}))`, legend: '{{area}}' }] }),
      bargauge({ title: 'Subscriptions by lag (all areas, last sweep)', description: 'Cumulative: subscriptions at most `le` messages behind', w: 24, h: 7, targets: [{ expr: `sum by (le) (${m('abe_subscriber_lag_messages')})`, legend: '≤ {{le}}', instant: true }] }),
    ],
  });
}
