// The live dashboard: polls /dashboard/data every second and redraws (engine/metrics/live.ts).
import { formatNumber, renderLegend, TimeChart } from './charts.js';

const POLL_MS = 1000;
const TRANSPORT_COLORS = { ws: '#58a6ff', mqtt: '#bc8cff', 'mqtt-ws': '#f778ba' };
const STAGES = [
  { key: 'durable', label: 'persist', color: '#e3b341', hint: 'accept → durable in the log' },
  { key: 'read', label: 'tail', color: '#79c0ff', hint: 'durable → read by the area cursor' },
  { key: 'fanout_start', label: 'queue', color: '#a5d6ff', hint: 'encode, wait for earlier messages' },
  { key: 'fanout_end', label: 'fan-out', color: '#3fb950', hint: 'writing to every subscriber' },
  { key: 'ack', label: 'vehicle ack', color: '#bc8cff', hint: 'written → ack received' },
];

const $ = (id) => document.getElementById(id);
let history = [];
let transports = ['ws'];

const charts = {
  connections: () => new TimeChart($('chart-connections'), { series: transports.map((t) => ({ key: t, label: t, color: TRANSPORT_COLORS[t] ?? '#8b949e', fill: true })), stacked: true }),
  rates: new TimeChart($('chart-rates'), {
    series: [
      { key: 'publishes', label: 'publishes/s', color: '#e3b341', width: 2 },
      { key: 'delivered', label: 'deliveries/s (right)', color: '#3fb950', axis: 'right', width: 2 },
      { key: 'replayed', label: 'catch-up/s (right)', color: '#79c0ff', axis: 'right', dash: [4, 3] },
    ],
  }),
  latency: new TimeChart($('chart-latency'), {
    unit: 'ms',
    series: [
      { key: 'p50', label: 'P50', color: '#3fb950' },
      { key: 'p90', label: 'P90', color: '#e3b341' },
      { key: 'p99', label: 'P99', color: '#f85149', width: 2.2 },
      { key: 'ackP99', label: 'ack P99', color: '#bc8cff', dash: [5, 3] },
    ],
  }),
  stages: new TimeChart($('chart-stages'), { unit: 'ms', stacked: true, series: STAGES.map((s) => ({ key: s.key, label: s.label, color: s.color })) }),
  trouble: new TimeChart($('chart-trouble'), {
    series: [
      { key: 'slowConsumerCloses', label: 'slow-consumer closes', color: '#f85149', width: 2 },
      { key: 'ackTimeoutCloses', label: 'ack-timeout closes', color: '#ff7b72', dash: [4, 3] },
      { key: 'resent', label: 'resends', color: '#e3b341' },
      { key: 'recoveredFalse', label: 'recovered:false', color: '#bc8cff' },
      { key: 'authFailures', label: 'auth failures', color: '#8b949e', dash: [2, 3] },
    ],
  }),
  lag: new TimeChart($('chart-lag'), {
    series: [
      { key: 'lagP99', label: 'lag P99 (msgs)', color: '#e3b341', width: 2 },
      { key: 'lagMax', label: 'lag max (msgs)', color: '#f85149', dash: [4, 3] },
      { key: 'paused', label: 'paused sockets (right)', color: '#79c0ff', axis: 'right' },
    ],
  }),
};
let connectionsChart = charts.connections();

const series = {
  connections: (p) => ({ t: p.t, values: p.connections }),
  rates: (p) => ({ t: p.t, values: p.rates }),
  latency: (p) => ({ t: p.t, values: { p50: p.latency.p50, p90: p.latency.p90, p99: p.latency.p99, ackP99: p.ackLatency.p99 } }),
  stages: (p) => ({ t: p.t, values: p.stageMs }),
  trouble: (p) => ({ t: p.t, values: p.rates }),
  lag: (p) => ({ t: p.t, values: { lagP99: p.lagP99, lagMax: p.lagMax, paused: p.pausedConnections } }),
};

function setKpi(id, text, level) {
  const el = $(id);
  el.textContent = text;
  if (level !== undefined) el.className = 'v' + (level ? ' ' + level : '');
}

function sum(o) {
  return Object.values(o).reduce((a, b) => a + b, 0);
}

function renderKpis(s) {
  const p = s.point;
  if (!p) return;
  setKpi('kpi-connections', formatNumber(sum(p.connections)));
  $('kpi-subscriptions').textContent = `${formatNumber(p.subscriptions)} subscriptions`;
  setKpi('kpi-publishes', formatNumber(p.rates.publishes));
  $('kpi-publish-errors').textContent = p.rates.publishErrors > 0 ? `${formatNumber(p.rates.publishErrors)} errors/s` : 'no errors';
  setKpi('kpi-delivered', formatNumber(p.rates.delivered));
  $('kpi-replayed').textContent = `${formatNumber(p.rates.replayed)}/s catch-up`;
  const p99 = p.latency.p99;
  setKpi('kpi-p99', formatNumber(p99, 'ms'), p99 === null ? '' : p99 > 1000 ? 'bad' : p99 > 250 ? 'warn' : '');
  $('kpi-p50').textContent = `P50 ${formatNumber(p.latency.p50, 'ms')}`;
  setKpi('kpi-ack-p99', formatNumber(p.ackLatency.p99, 'ms'));
  $('kpi-acks').textContent = `${formatNumber(p.rates.acks)} acks/s`;
  setKpi('kpi-slow', formatNumber(p.rates.slowConsumerCloses), p.rates.slowConsumerCloses > 0 ? 'warn' : '');
  $('kpi-resent').textContent = `${formatNumber(p.rates.resent)} resends/s`;
  const loop = p.eventLoopP99Ms;
  setKpi('kpi-loop', formatNumber(loop, 'ms'), loop !== null && loop > 100 ? 'bad' : loop !== null && loop > 40 ? 'warn' : '');
  $('kpi-mem').textContent = `RSS ${formatNumber(p.rssMB)} MB · heap ${formatNumber(p.heapMB)} MB`;
}

function renderStatus(s) {
  const ready = $('ready');
  ready.textContent = s.ready ? 'READY' : 'NOT READY';
  ready.className = 'pill ' + (s.ready ? 'ok' : 'bad');
  const log = $('log');
  log.textContent = `log ${s.info.log ?? ''} ${s.logHealthy ? 'ok' : 'unavailable'}`;
  log.className = 'pill ' + (s.logHealthy ? 'ok' : 'bad');
  const up = Math.round((Date.now() - s.startedAt) / 1000);
  const upText = up >= 3600 ? `${Math.floor(up / 3600)}h ${Math.floor((up % 3600) / 60)}m` : up >= 60 ? `${Math.floor(up / 60)}m ${up % 60}s` : `${up}s`;
  $('meta').textContent = `${s.worker === 'all' ? 'all processes' : `worker ${s.worker}`} · node ${s.info.node ?? ''} · uWS ${s.info.uws ?? ''} · up ${upText}`;
  $('updated').textContent = s.point ? `updated ${new Date(s.point.t).toLocaleTimeString()}` : 'waiting for the first sample…';
}

function renderBreakdown(p) {
  const rows = STAGES.map((s) => ({ ...s, ms: p ? p.stageMs[s.key] : null })).filter((r) => r.ms !== null);
  const total = rows.reduce((a, r) => a + r.ms, 0);
  if (rows.length === 0 || !(total > 0)) {
    $('breakdown').innerHTML = '<div class="total">No messages in the last 5 s.</div>';
    return;
  }
  const bar = `<div class="stackbar">${rows.map((r) => `<i title="${r.label}" style="width:${(100 * r.ms) / total}%;background:${r.color}"></i>`).join('')}</div>`;
  const lines = rows
    .map(
      (r) =>
        `<div class="row"><span class="name" title="${r.hint}">${r.label}<small>${r.hint}</small></span>` +
        `<span class="bar"><i style="width:${Math.max(0.5, (100 * r.ms) / total)}%;background:${r.color}"></i></span>` +
        `<span class="val">${formatNumber(r.ms, 'ms')} · ${Math.round((100 * r.ms) / total)}%</span></div>`,
    )
    .join('');
  $('breakdown').innerHTML = bar + lines + `<div class="total">Mean accept → ${rows[rows.length - 1].label}: <b>${formatNumber(total, 'ms')}</b></div>`;
}

function renderAreas(s) {
  const body = $('areas');
  if (s.topAreas.length === 0) {
    body.innerHTML = '<tr><td colspan="4" class="empty">no open areas</td></tr>';
  } else {
    const max = Math.max(1, ...s.topAreas.map((a) => a.maxLag));
    body.innerHTML = s.topAreas
      .slice(0, 8)
      .map(
        (a) =>
          `<tr><td class="area" title="${a.area}">${a.area}</td><td class="n">${formatNumber(a.subscribers)}</td><td class="n">${formatNumber(a.head)}</td>` +
          `<td><span class="lagbar" style="width:${Math.round((70 * a.maxLag) / max)}px"></span>${formatNumber(a.maxLag)}</td></tr>`,
      )
      .join('');
  }
  renderLagDistribution(s.lagDistribution);
}

// Subscriptions by how far behind the head they are (the last sweep), as bars per lag band.
const LAG_BANDS = [
  [0, 'caught up'],
  [10, '1–10'],
  [100, '11–100'],
  [1000, '101–1K'],
  [10000, '1K–10K'],
  ['+Inf', '> 10K'],
];

function renderLagDistribution(d) {
  const at = (le) => d.find(([b]) => b === le)?.[1] ?? 0;
  const all = at('+Inf');
  if (!(all > 0)) {
    $('lagdist').innerHTML = '';
    return;
  }
  let prev = 0;
  const bands = LAG_BANDS.map(([le, label]) => {
    const n = at(le) - prev;
    prev = at(le);
    return { label, n };
  });
  const max = Math.max(1, ...bands.map((b) => b.n));
  $('lagdist').innerHTML =
    `<div class="lagtitle">Subscriptions by lag, messages behind (${formatNumber(all)} in all)</div>` +
    bands
      .map((b, i) => `<div class="lagrow"><span>${b.label}</span><span class="bar"><i style="width:${(100 * b.n) / max}%;background:${i === 0 ? '#3fb950' : i < 3 ? '#e3b341' : '#f85149'}"></i></span><span class="n">${formatNumber(b.n)}</span></div>`)
      .join('');
}

function redraw(s) {
  const p = s.point;
  const names = new Set(['ws', ...history.flatMap((h) => Object.keys(h.connections))]);
  if (names.size !== transports.length) {
    transports = [...names];
    connectionsChart = charts.connections();
  }
  connectionsChart.draw(history.map(series.connections));
  renderLegend($('legend-connections'), connectionsChart.opts.series, p ? p.connections : null);
  for (const k of ['rates', 'latency', 'stages', 'trouble', 'lag']) {
    const pts = history.map(series[k]);
    charts[k].draw(pts);
    renderLegend($('legend-' + k), charts[k].opts.series, pts.length ? pts[pts.length - 1].values : null, charts[k].opts.unit);
  }
}

// With authentication on, /dashboard/data needs a token with "ops": true (README, Observability).
// It comes from the URL fragment (/dashboard#token=<jwt>: a fragment never reaches the server, so
// it stays out of access logs and Referer headers) or from the form the page shows on 401/403. It
// is kept in sessionStorage (this tab only), the fragment is cleared from the address bar, and it
// travels as Authorization: Bearer on every poll. Without authentication no token is needed.
const TOKEN_KEY = 'abe-ops-token';

function takeFragmentToken() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!m) return;
  try {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
  } catch {
    /* a malformed fragment: the form asks instead */
  }
  window.history.replaceState(null, '', location.pathname + location.search); // window.: `history` here is the chart data
}

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { authorization: `Bearer ${token}` } : {};
}

// Polling stops until a token is entered: a page left open must not knock every second.
function askForToken(status) {
  sessionStorage.removeItem(TOKEN_KEY);
  const ready = $('ready');
  ready.textContent = status === 401 ? 'TOKEN REQUIRED' : 'TOKEN WITHOUT OPS RIGHT';
  ready.className = 'pill bad';
  $('auth').hidden = false;
  $('token').focus();
}

$('auth').addEventListener('submit', (e) => {
  e.preventDefault();
  const token = $('token').value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  $('token').value = '';
  $('auth').hidden = true;
  poll(history.length === 0);
});

async function poll(first) {
  try {
    const r = await fetch(first ? '/dashboard/data?history=1' : '/dashboard/data', { cache: 'no-store', headers: authHeaders() });
    if (r.status === 401 || r.status === 403) return askForToken(r.status);
    const s = await r.json();
    if (s.history) history = s.history.slice();
    else if (s.point && (history.length === 0 || s.point.t > history[history.length - 1].t)) history.push(s.point);
    if (history.length > 300) history.splice(0, history.length - 300);
    renderStatus(s);
    renderKpis(s);
    renderBreakdown(s.point);
    renderAreas(s);
    redraw(s);
    document.body.dataset.updated = String(s.point ? s.point.t : 0);
  } catch (err) {
    const ready = $('ready');
    ready.textContent = 'ENGINE UNREACHABLE';
    ready.className = 'pill bad';
  }
  setTimeout(() => poll(false), POLL_MS);
}

window.addEventListener('resize', () => history.length && redraw({ point: history[history.length - 1] }));
takeFragmentToken();
poll(true);
