/**
 * Latency-by-percentile chart (SVG, no dependencies), the HdrHistogram way: the x axis is
 * 1 / (1 - percentile) on a log scale (50%, 90%, 99%, 99.9%, 99.99% evenly spaced), the y axis
 * latency in ms. One line per run, from the OMB `aggregatedEndToEndLatencyQuantiles` map.
 */

export interface Series {
  readonly label: string;
  /** percentile (in percent, as a string key) -> ms */
  readonly quantiles: Readonly<Record<string, number>>;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const W = 760;
const H = 420;
const M = { left: 70, right: 40, top: 40, bottom: 60 };
const X_TICKS = [0, 50, 90, 99, 99.9, 99.99, 99.999];

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** log10(1 / (1 - p)) for p in percent; 0 at p = 0. */
function xOf(p: number): number {
  return Math.log10(1 / Math.max(1e-7, 1 - Math.min(p, 99.99999) / 100));
}

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const e = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (v <= m * e) return m * e;
  return 10 * e;
}

export function latencyChart(title: string, series: readonly Series[]): string {
  const points = series.map((s) =>
    Object.entries(s.quantiles)
      .map(([p, ms]) => [Number(p), ms] as const)
      .filter(([p, ms]) => Number.isFinite(p) && Number.isFinite(ms) && p < 100)
      .sort((a, b) => a[0] - b[0]),
  );
  const maxP = Math.max(99.9, ...points.flat().map(([p]) => p));
  const xMax = xOf(Math.min(99.999, X_TICKS.find((t) => t >= maxP) ?? 99.999));
  const yMax = niceMax(Math.max(0, ...points.flat().map(([, ms]) => ms)));
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sx = (p: number): number => M.left + (xOf(p) / xMax) * pw;
  const sy = (ms: number): number => M.top + ph - (ms / yMax) * ph;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const v = (yMax * i) / 5;
    const y = sy(v);
    out.push(`<line x1="${M.left}" y1="${y}" x2="${W - M.right}" y2="${y}" stroke="#ddd"/>`, `<text x="${M.left - 6}" y="${y + 4}" text-anchor="end">${+v.toFixed(1)}</text>`);
  }
  for (const t of X_TICKS) {
    if (xOf(t) > xMax + 1e-9) continue;
    const x = sx(t);
    out.push(`<line x1="${x}" y1="${M.top}" x2="${x}" y2="${M.top + ph}" stroke="#eee"/>`, `<text x="${x}" y="${M.top + ph + 16}" text-anchor="middle">${t}%</text>`);
  }
  out.push(
    `<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`,
    `<text x="${M.left + pw / 2}" y="${H - 18}" text-anchor="middle">percentile</text>`,
    `<text x="16" y="${M.top + ph / 2}" text-anchor="middle" transform="rotate(-90 16 ${M.top + ph / 2})">end-to-end latency (ms)</text>`,
  );
  points.forEach((pts, i) => {
    if (pts.length === 0) return;
    const color = COLORS[i % COLORS.length];
    const d = pts.filter(([p]) => xOf(p) <= xMax + 1e-9).map(([p, ms], j) => `${j === 0 ? 'M' : 'L'}${sx(p).toFixed(1)},${sy(ms).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
    const ly = M.top + 14 + i * 16;
    out.push(`<line x1="${M.left + 10}" y1="${ly - 4}" x2="${M.left + 30}" y2="${ly - 4}" stroke="${color}" stroke-width="2"/>`, `<text x="${M.left + 36}" y="${ly}">${esc(series[i].label)}</text>`);
  });
  out.push('</svg>', '');
  return out.join('\n');
}
