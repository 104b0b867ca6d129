/**
 * Prometheus alerting rules for what should page someone (severity: page) or open a ticket
 * (severity: warning). ./build.ts writes them to dashboards/alerts.rules.yml. The budgets are the
 * design's: every vehicle gets an alert within a second (DESIGN "The job").
 *
 * `job="abe"` is the scrape job name these rules assume for the engine (see dashboards/README.md).
 */

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for: string;
  readonly severity: 'page' | 'warning';
  readonly summary: string;
  readonly description: string;
}

const E2E_P99 = 'histogram_quantile(0.99, sum by (job, le) (rate(abe_stage_latency_seconds_bucket{stage="fanout_end"}[5m])))';
const ACK_P99 = 'histogram_quantile(0.99, sum by (job, le) (rate(abe_stage_latency_seconds_bucket{stage="ack"}[5m])))';
const LAG_P99 = 'histogram_quantile(0.99, sum by (job, le) (abe_subscriber_lag_messages))';

export const RULES: readonly AlertRule[] = [
  {
    alert: 'AbeEngineDown',
    expr: 'up{job="abe"} == 0',
    for: '1m',
    severity: 'page',
    summary: 'Engine {{ $labels.instance }} is not answering scrapes',
    description: 'Prometheus cannot scrape /metrics on {{ $labels.instance }}: vehicles connected to it are reconnecting elsewhere, or nowhere.',
  },
  {
    alert: 'AbeEndToEndLatencyP99OverBudget',
    expr: `${E2E_P99} > 1`,
    for: '5m',
    severity: 'page',
    summary: 'P99 accept → written to vehicles is {{ $value | humanizeDuration }} (budget 1 s)',
    description: 'Messages take more than a second from publish to the vehicles\' sockets. The "Latency breakdown" dashboard shows which stage (persist, tail, queue, fan-out) grew.',
  },
  {
    alert: 'AbeAckLatencyP99High',
    expr: `${ACK_P99} > 2`,
    for: '10m',
    severity: 'warning',
    summary: 'P99 accept → ack received is {{ $value | humanizeDuration }}',
    description: 'Vehicles acknowledge slowly: cellular links, or the engine writes late (compare with the end-to-end P99).',
  },
  {
    alert: 'AbeAckLagGrowing',
    expr: `(${LAG_P99} > 100) and (deriv((${LAG_P99})[15m:1m]) > 0)`,
    for: '15m',
    severity: 'page',
    summary: 'P99 subscriber lag is {{ $value }} messages and still growing',
    description: 'Vehicles fall further behind the area heads (head − virtual cursor) for 15 minutes: slow consumers, a stuck sweep or an engine that cannot keep up. See the "Areas" dashboard for which areas.',
  },
  {
    alert: 'AbeLogUnavailable',
    expr: 'min by (job, instance) (abe_log_healthy) == 0',
    for: '1m',
    severity: 'page',
    summary: 'The log is unavailable on {{ $labels.instance }}',
    description: 'Publishes answer 503 log_unavailable and /readyz fails: check the embedded store\'s disk (full, EIO, read-only: the engine retries a probe write every second and takes writes again by itself once it commits) or the Pulsar cluster.',
  },
  {
    alert: 'AbeFlappingClients',
    expr: 'sum by (job, key) (increase(abe_flapping_bans_total[10m])) > 10',
    for: '0m',
    severity: 'warning',
    summary: '{{ $value }} clients banned for flapping (by {{ $labels.key }}) in 10 minutes',
    description: 'Clients reconnect in a loop (--flapping-max-connects in --flapping-window-seconds) and are refused with 503 flapping_banned / CONNACK 0x9F for --flapping-ban-seconds: a client bug, a bad network, or tokens shared by many vehicles with --flapping-by subject.',
  },
  {
    alert: 'AbeConnectsRefusedByRate',
    expr: 'sum by (job, listener) (rate(abe_connect_refusals_total{reason="connect_rate_limited"}[5m])) > 1',
    for: '10m',
    severity: 'warning',
    summary: '{{ $value }} connects/s refused on {{ $labels.listener }} by --max-connect-rate for 10 minutes',
    description: 'A reconnect storm is throttled as configured; if it lasts, the limit is below the fleet\'s normal connect rate.',
  },
  {
    alert: 'AbeNotReady',
    expr: 'min by (job, instance) (abe_ready) == 0',
    for: '2m',
    severity: 'page',
    summary: '{{ $labels.instance }} is not ready (/readyz answers 503)',
    description: 'The engine is shutting down or its log is unhealthy; load balancers take it out of rotation.',
  },
  {
    alert: 'AbeSlowConsumerClosesHigh',
    expr: 'sum by (job) (rate(abe_slow_consumer_closes_total[5m])) * 60 > 10',
    for: '10m',
    severity: 'warning',
    summary: '{{ $value | humanize }} slow-consumer closes per minute',
    description: 'Vehicles fall out of the retained window while not reading (close 4000 slow_consumer). Many at once means the network or the engine\'s send path, not a few bad links.',
  },
  {
    alert: 'AbeAckTimeoutClosesHigh',
    expr: 'sum by (job) (rate(abe_ack_timeout_closes_total[5m])) * 60 > 10',
    for: '10m',
    severity: 'warning',
    summary: '{{ $value | humanize }} ack-timeout closes per minute',
    description: 'Vehicles stop acknowledging after repeated resends (close 4001 ack_timeout).',
  },
  {
    alert: 'AbePublishErrors',
    expr: 'sum by (job) (rate(abe_publishes_total{result="error"}[5m])) > 0',
    for: '5m',
    severity: 'warning',
    summary: 'Publishes are failing ({{ $value | humanize }}/s)',
    description: 'The log refuses appends; publishers get 503 and must retry with their Idempotency-Key.',
  },
  {
    alert: 'AbeLogAppendSlow',
    expr: 'histogram_quantile(0.99, sum by (job, le) (rate(abe_log_append_duration_seconds_bucket[5m]))) > 0.25',
    for: '10m',
    severity: 'warning',
    summary: 'P99 log append is {{ $value | humanizeDuration }}',
    description: 'Persistence eats the latency budget: disk fsync (embedded log with --durability flush) or Pulsar write latency.',
  },
  {
    alert: 'AbeEventLoopLagHigh',
    expr: 'max by (job, instance) (abe_nodejs_eventloop_lag_p99_seconds) > 0.2',
    for: '5m',
    severity: 'warning',
    summary: 'Event-loop lag P99 {{ $value | humanizeDuration }} on {{ $labels.instance }}',
    description: 'The engine process is saturated: every send, ack and publish queues behind it. Add processes (issue 6) or move vehicles.',
  },
];

const q = (s: string): string => JSON.stringify(s); // a JSON string is a valid double-quoted YAML scalar

/** The rule file, as `promtool check rules` wants it. */
export function rulesYaml(): string {
  const lines = ['# Generated by engine/metrics/grafana/build.ts from engine/metrics/grafana/rules.ts: edit there.', 'groups:', '  - name: area-broadcast-engine', '    rules:'];
  for (const r of RULES) {
    lines.push(
      `      - alert: ${r.alert}`,
      `        expr: ${q(r.expr)}`,
      `        for: ${r.for}`,
      '        labels:',
      `          severity: ${r.severity}`,
      '        annotations:',
      `          summary: ${q(r.summary)}`,
      `          description: ${q(r.description)}`,
    );
  }
  return lines.join('\n') + '\n';
}
